// Speed where users feel it (issue 20), trail and git measured alternately in one run:
//   node dist/bench/speed.js --files 3000,50000 [--pairs 5,3] [--rounds 7] [--work DIR]
//
// - first snapshot: `trail init` and `git add -A && git commit`, A B A B, each pair on fresh
//   repositories; trail's background repack is waited for before git runs (it must not run
//   under git's measurement). Reported: the median of the pairwise ratios, and their min–max.
// - status, nothing changed: first `trail status` with no daemon running (a scan) and `git
//   status`, alternately; then, with `trail watch` running, `trail status` answered by it,
//   `git status`, and `git status` with watchman as its fsmonitor (Debian's watchman + git's
//   fsmonitor-watchman sample hook), in rotating order.
// - nothing changed, snapshot: `trail snapshot` with no daemon running (cron's) and `git add
//   -A && git commit` with nothing to commit, alternately.
// - snapshot of a one-file change: `trail snapshot` answered by the daemon, and `git add -A &&
//   git commit` of the same change.
// - with the daemon, `trail` is the native front (dist/trail, what the Debian package installs
//   as /usr/bin/trail), run so that it cannot start Node.js unnoticed; bin/trail.js, the
//   Node.js client, is measured beside it.
// - `node -e 0`: what Node's own start-up costs, the floor of any trail command; `/bin/true`:
//   what starting and timing any process costs here, part of every row's time.
// - the daemon's RSS after start and after a 1,000-file snapshot.
// Every measurement notes the 1-minute load average: the machine is shared.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freezeBuild, measure as measureNow, median, sh, type Measured, type MeasureOptions } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const MAKE_TREE = join(root, 'bench', 'make-etc-tree.py');
let TRAIL = join(root, 'bin', 'trail.js');
const FSMONITOR_SAMPLE = '/usr/share/git-core/templates/hooks/fsmonitor-watchman.sample';

function measure(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Measured> {
  sh('sync', []);
  return measureNow(cmd, args, opts);
}

interface Args {
  files: number[];
  pairs: number[];
  rounds: number;
  work?: string;
  out: string;
  only?: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { files: [3000, 50000], pairs: [5, 3], rounds: 7, out: join(root, 'bench', 'results', 'speed.md') };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => argv[++i] ?? '';
    const nums = () => v().split(',').map(Number);
    if (k === '--files') a.files = nums();
    else if (k === '--pairs') a.pairs = nums();
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--work') a.work = resolve(v());
    else if (k === '--out') a.out = resolve(v());
    else if (k === '--only') a.only = new Set(v().split(','));
    else throw new Error(`unknown option ${k} (see the comment at the top of bench/speed.ts)`);
  }
  return a;
}

/** One timed value with the load it ran under. */
interface Sample {
  m: Measured;
  load: number;
}
interface Row {
  files: number;
  what: string;
  a: string;
  b: string;
  pairs: [Sample, Sample][];
  target?: number;
}

async function sample(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Sample> {
  const load = loadavg()[0]!;
  return { m: await measure(cmd, args, opts), load };
}

function fmtRange(xs: number[], digits = 2): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

function table(rows: Row[]): string {
  const out = [
    '| files | measure | A | B | A s, median (min–max) | B s, median (min–max) | A/B wall: median of pairs (min–max) | A/B CPU: median of pairs | target | met | pairs | load (1 min) |',
    '|---:|---|---|---|---|---|---|---|---|---|---:|---|',
  ];
  for (const r of rows) {
    const wa = r.pairs.map(([a]) => a.m.wall);
    const wb = r.pairs.map(([, b]) => b.m.wall);
    const ratios = r.pairs.map(([a, b]) => a.m.wall / b.m.wall);
    const cpuRatios = r.pairs.map(([a, b]) => (a.m.user + a.m.sys) / Math.max(b.m.user + b.m.sys, 0.001));
    const loads = r.pairs.flatMap(([a, b]) => [a.load, b.load]);
    const met = r.target === undefined ? '' : median(ratios) <= r.target ? 'yes' : 'no';
    out.push(
      `| ${r.files} | ${r.what} | ${r.a} | ${r.b} | ${fmtRange(wa, 3)} | ${fmtRange(wb, 3)} | ${fmtRange(ratios)} | ${median(cpuRatios).toFixed(2)} | ${r.target !== undefined ? `≤ ${r.target}×` : ''} | ${met} | ${r.pairs.length} | ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} |`,
    );
  }
  return out.join('\n');
}

/** Seconds until trail's background maintenance of `repo` is done (undefined: none ran). */
async function waitMaintenance(repo: string): Promise<number | undefined> {
  const lock = join(repo, 'trail', 'maintenance.lock');
  const started = Date.now();
  while (!existsSync(lock) && Date.now() - started < 1500) await sleep(20);
  if (!existsSync(lock)) return undefined;
  while (existsSync(lock)) await sleep(100);
  return (Date.now() - started) / 1000;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `trail watch` for one name, stopped by its own pid. */
class Watcher {
  readonly child: ChildProcess;
  private out = '';
  constructor(env: NodeJS.ProcessEnv, name: string) {
    this.child = spawn(process.execPath, [TRAIL, 'watch', name, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }
  async started(): Promise<void> {
    const end = Date.now() + 900_000;
    while (!this.out.includes('"event":"start"')) {
      if (this.child.exitCode !== null) throw new Error(`trail watch exited: ${this.out.slice(-2000)}`);
      if (Date.now() > end) throw new Error('trail watch did not start');
      await sleep(100);
    }
  }
  /** Once the work that follows a start is done: the stat cache is written 5 s after the
   * start commit (src/watch/housekeeping.ts), ~1 s of CPU at 50k files that would otherwise
   * be counted against the first statuses. Then until a second passes with no CPU to speak of. */
  async settled(): Promise<void> {
    await sleep(6000);
    for (let i = 0; i < 60; i++) {
      const before = this.cpuSeconds();
      await sleep(1000);
      if (this.cpuSeconds() - before < 0.02) return;
    }
  }
  /** CPU seconds the daemon used so far (user + sys, from /proc). */
  cpuSeconds(): number {
    const f = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  }
  /** Resident now, in MB. */
  rssMB(): number {
    return this.status('VmRSS');
  }
  /** The most it was ever resident, in MB: the start-up scan's peak, which RSS at the start
   * line does not show once V8 has given that memory back. */
  peakMB(): number {
    return this.status('VmHWM');
  }
  private status(field: string): number {
    const s = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function firstConf(dir: string, depth = 0): string {
  const ents = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  if (depth < 2)
    for (const e of ents)
      if (e.isDirectory()) {
        try {
          return firstConf(join(dir, e.name), depth + 1);
        } catch {
          /* none below */
        }
      }
  const f = ents.find((e) => e.isFile() && e.name.endsWith('.conf'));
  if (!f) throw new Error(`no .conf file under ${dir}`);
  return join(dir, f.name);
}

function confFiles(dir: string, max: number, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (out.length >= max) break;
    const p = join(dir, e.name);
    if (e.isDirectory()) confFiles(p, max, out);
    else if (e.isFile() && e.name.endsWith('.conf')) out.push(p);
  }
  return out;
}

async function benchTree(
  n: number,
  pairs: number,
  args: Args,
  work: string,
  env: NodeJS.ProcessEnv,
  rows: Row[],
  notes: string[],
) {
  const want = (x: string) => !args.only || args.only.has(x);
  const tree = join(work, `etc-${n}`);
  const stamp = join(work, `etc-${n}.made`);
  if (existsSync(tree) && !existsSync(stamp)) rmSync(tree, { recursive: true, force: true });
  if (!existsSync(stamp)) writeFileSync(stamp, sh('python3', [MAKE_TREE, tree, '--files', String(n)]).trim());
  notes.push(`- ${n}: ${readFileSync(stamp, 'utf8').replace(tree + ': ', '')}`);
  sh('sh', ['-c', 'find "$1" -type f -exec cat {} + > /dev/null 2>&1 || true', 'sh', tree]); // warm the page cache
  const gitEnv = (gitDir: string) => ({ ...env, GIT_DIR: gitDir, GIT_WORK_TREE: tree });

  // First snapshot, A B A B.
  const init: Row = {
    files: n,
    what: 'first snapshot',
    a: '`trail init`',
    b: '`git add -A && git commit`',
    pairs: [],
    target: n >= 50000 ? 0.4 : 0.5,
  };
  const repacks: number[] = [];
  let last = { dir: '', name: '', repo: '', gitDir: '', tenv: env };
  for (let i = 0; i < pairs; i++) {
    const dir = join(work, `run-${n}-${i}`);
    mkdirSync(dir, { recursive: true });
    const name = `speed-${n}-${i}`;
    const tenv = { ...env, TRAIL_HOME: join(dir, 'home') };
    const repo = join(dir, 'trail.git');
    const gitDir = join(dir, 'git.git');
    sh('git', ['init', '-q', '--bare', gitDir], { env });
    const a = await sample('node', [TRAIL, 'init', tree, '--repo', repo, '--name', name, '--json'], { env: tenv });
    const took = await waitMaintenance(repo);
    if (took !== undefined) repacks.push(took);
    const b = await sample('sh', ['-c', 'git add -A && git commit -q -m snapshot'], { env: gitEnv(gitDir) });
    init.pairs.push([a, b]);
    process.stderr.write(
      `  ${n} init pair ${i + 1}: trail ${a.m.wall.toFixed(2)} s, git ${b.m.wall.toFixed(2)} s (load ${a.load.toFixed(1)})\n`,
    );
    if (last.dir) rmSync(last.dir, { recursive: true, force: true });
    last = { dir, name, repo, gitDir, tenv };
  }
  rows.push(init);
  if (repacks.length)
    notes.push(
      `- ${n}: trail's background repack after init (waited for, not in the init time): ${repacks.map((x) => x.toFixed(1)).join(', ')} s`,
    );
  if (!want('status')) return;

  // The daemon: settings as a user's, but the window held open so that a snapshot finds the
  // change still pending (what `trail snapshot` meets within the quiet window).
  const { name, tenv, gitDir } = last;
  for (const [k, v] of Object.entries({
    'attribute.audit': 'off',
    'watch.quietMs': '600000',
    'watch.maxDelayMs': '600000',
  }))
    sh('node', [TRAIL, '--name', name, 'config', 'set', k, v], { env: tenv });
  const git = () => sample('git', ['status', '--porcelain'], { env: gitEnv(gitDir) });

  // Status without the daemon, measured while none runs: a running one keeps its stat cache
  // in memory and writes it out once quiet for a few seconds after a commit (its start commit
  // too), and a scan meanwhile finds the cache of the commit before and reads every file.
  const scan = () => sample('node', [TRAIL, 'status', '--name', name, '--json'], { env: tenv, okCodes: [0, 3] });
  // Warm-up: git refreshes its index once after a commit, trail writes its stat index.
  await git();
  await scan();
  const alone: Record<'scan' | 'git', Sample[]> = { scan: [], git: [] };
  for (let r = 0; r < args.rounds; r++)
    for (const key of r % 2 ? (['git', 'scan'] as const) : (['scan', 'git'] as const))
      alone[key].push(await (key === 'scan' ? scan : git)());
  for (const s of alone.scan) {
    const j = JSON.parse(s.m.stdout) as { clean: boolean; answeredBy: unknown };
    if (!j.clean || j.answeredBy !== 'scan') throw new Error(`status without the daemon: ${s.m.stdout.slice(0, 300)}`);
  }
  // A snapshot with nothing to record and no daemon (cron's), against git's nothing to commit.
  const snapAlone = () => sample('node', [TRAIL, 'snapshot', '--name', name, '--json'], { env: tenv });
  const commitAlone = () =>
    sample('sh', ['-c', 'git add -A && git commit -q -m snapshot'], { env: gitEnv(gitDir), okCodes: [1] });
  const idle: Record<'trail' | 'git', Sample[]> = { trail: [], git: [] };
  for (let r = 0; r < args.rounds; r++)
    for (const key of r % 2 ? (['git', 'trail'] as const) : (['trail', 'git'] as const))
      idle[key].push(await (key === 'trail' ? snapAlone : commitAlone)());
  for (const s of idle.trail)
    if ((JSON.parse(s.m.stdout) as { commit: unknown }).commit !== null)
      throw new Error(`a snapshot with nothing changed committed: ${s.m.stdout.slice(0, 300)}`);

  const w = new Watcher(tenv, name);
  const ask = { env: { ...tenv, TRAIL_WATCHER_TIMEOUT_MS: '30000' }, okCodes: [0, 3] };
  // The front must answer alone: a Node.js it handed over to would fail at once.
  const askFront = { ...ask, env: { ...ask.env, NODE_OPTIONS: '--require=/nonexistent/front-handed-over.js' } };
  try {
    await w.started();
    const rssStart = w.rssMB();
    await w.settled();
    // Settled: after the idle flush that follows the start commit, and its full GC.
    const rssSettled = w.rssMB();
    const peakStart = w.peakMB();
    // git with watchman as its fsmonitor: the sample hook, run from the work tree.
    let fsmonitor: string | undefined;
    if (existsSync('/usr/bin/watchman') && existsSync(FSMONITOR_SAMPLE)) {
      fsmonitor = join(gitDir, 'hooks', 'fsmonitor-watchman');
      mkdirSync(dirname(fsmonitor), { recursive: true });
      copyFileSync(FSMONITOR_SAMPLE, fsmonitor);
      chmodSync(fsmonitor, 0o755);
    }
    const gitFs = () =>
      sample('git', ['-c', `core.fsmonitor=${fsmonitor}`, '-c', 'core.untrackedCache=true', 'status', '--porcelain'], {
        env: gitEnv(gitDir),
        cwd: tree,
      });
    const front = frontOf(TRAIL);
    const cmds = {
      daemon: () => sample(front, ['status', '--name', name, '--json'], askFront),
      client: () => sample('node', [TRAIL, 'status', '--name', name, '--json'], ask),
      git,
      gitFs,
      node: () => sample('node', ['-e', '0'], { env }),
      // What starting and timing a process costs here (spawn, GNU time), in every row alike.
      floor: () => sample('/bin/true', [], { env }),
    };
    // Warm-up: git refreshes its index once after a commit, watchman starts watching.
    await cmds.git();
    if (fsmonitor) for (let i = 0; i < 3; i++) await gitFs();
    await cmds.daemon();
    const got: Record<string, Sample[]> = { daemon: [], client: [], git: [], gitFs: [], node: [], floor: [] };
    const cpu0 = w.cpuSeconds();
    const order = (Object.keys(cmds) as (keyof typeof cmds)[]).filter((k) => k !== 'gitFs' || fsmonitor);
    for (let r = 0; r < args.rounds; r++)
      for (let k = 0; k < order.length; k++) {
        const key = order[(k + r) % order.length]!;
        got[key]!.push(await cmds[key]());
      }
    notes.push(
      // Two questions per round: the front's and the Node.js client's.
      `- ${n}: the daemon's own CPU per status it answered: ${(((w.cpuSeconds() - cpu0) / (2 * args.rounds)) * 1000).toFixed(1)} ms (not in the daemon rows' CPU, which is the command's)`,
    );
    for (const s of [...got.daemon!, ...got.client!]) {
      const j = JSON.parse(s.m.stdout) as { clean: boolean; answeredBy: unknown };
      if (!j.clean || typeof j.answeredBy !== 'object') throw new Error(`daemon status: ${s.m.stdout.slice(0, 300)}`);
    }
    const zip = (a: Sample[], b: Sample[]) => a.map((x, i) => [x, b[i]!] as [Sample, Sample]);
    rows.push({
      files: n,
      what: 'status, nothing changed',
      a: '`trail status` (daemon answers)',
      b: '`git status`',
      pairs: zip(got.daemon!, got.git!),
      target: n >= 200000 ? 0.1 : 0.5,
    });
    rows.push({
      files: n,
      what: 'status, nothing changed',
      a: '`node bin/trail.js status` (Node.js client; daemon answers)',
      b: '`git status`',
      pairs: zip(got.client!, got.git!),
    });
    if (fsmonitor)
      rows.push({
        files: n,
        what: 'status, nothing changed',
        a: '`trail status` (daemon answers)',
        b: '`git status` + watchman fsmonitor',
        pairs: zip(got.daemon!, got.gitFs!),
        target: 1,
      });
    rows.push({
      files: n,
      what: 'status, nothing changed',
      a: '`trail status` (no daemon running: scan)',
      b: '`git status`',
      pairs: zip(alone.scan, alone.git),
      target: 1,
    });
    rows.push({
      files: n,
      what: 'nothing changed, snapshot',
      a: '`trail snapshot` (no daemon running)',
      b: '`git add -A && git commit` (nothing to commit)',
      pairs: zip(idle.trail, idle.git),
    });
    rows.push({
      files: n,
      what: 'Node start-up vs git',
      a: '`node -e 0`',
      b: '`git status`',
      pairs: zip(got.node!, got.git!),
    });
    rows.push({
      files: n,
      what: "the harness's own cost vs git",
      a: '`/bin/true`',
      b: '`git status`',
      pairs: zip(got.floor!, got.git!),
    });
    if (!fsmonitor)
      notes.push(
        `- ${n}: watchman or git's fsmonitor-watchman sample is not installed: git with fsmonitor not measured`,
      );

    // One-file change: the daemon commits it when asked; git adds and commits the same change.
    const victim = firstConf(tree);
    const snap: Row = {
      files: n,
      what: 'one-file change recorded',
      a: '`trail snapshot` (daemon answers)',
      b: '`git add -A && git commit`',
      pairs: [],
      target: 1,
    };
    const snapClient: Row = {
      ...snap,
      a: '`node bin/trail.js snapshot` (Node.js client; daemon answers)',
      pairs: [],
      target: undefined,
    };
    for (let r = 0; r < args.rounds; r++)
      for (const [row, run] of [
        [snap, () => sample(front, ['snapshot', '--name', name, '-m', 'bench', '--json'], askFront)],
        [snapClient, () => sample('node', [TRAIL, 'snapshot', '--name', name, '-m', 'bench', '--json'], ask)],
      ] as const) {
        appendFileSync(victim, `bench_change_${r} = ${row === snap ? 1 : 2}\n`);
        const a = await run();
        const j = JSON.parse(a.m.stdout) as { changes: unknown[]; answeredBy: unknown };
        if (j.changes.length !== 1 || typeof j.answeredBy !== 'object')
          throw new Error(`snapshot: ${a.m.stdout.slice(0, 300)}`);
        const b = await sample('sh', ['-c', 'git add -A && git commit -q -m one-file'], { env: gitEnv(gitDir) });
        row.pairs.push([a, b]);
      }
    rows.push(snap, snapClient);

    // A burst: 1,000 files changed, committed by a snapshot the daemon makes.
    for (const f of confFiles(tree, 1000)) appendFileSync(f, 'burst = 1\n');
    const burst = await sample('node', [TRAIL, 'snapshot', '--name', name, '-m', 'burst', '--json'], ask);
    const rssBurst = w.rssMB();
    notes.push(
      `- ${n}: daemon RSS ${rssStart.toFixed(0)} MB at its start line, ${rssSettled.toFixed(0)} MB settled (peak during the start-up scan ${peakStart.toFixed(0)} MB); ${rssBurst.toFixed(0)} MB after a 1,000-file snapshot (that snapshot: ${burst.m.wall.toFixed(2)} s; peak by then ${w.peakMB().toFixed(0)} MB)`,
    );
  } finally {
    await w.stop();
    if (existsSync('/usr/bin/watchman')) sh('watchman', ['watch-del', tree], { okCodes: [0, 1] });
  }
}

/** The native front beside a build's bin/trail.js (dist/trail, packaging/native.mjs). */
function frontOf(trailJs: string): string {
  const front = join(dirname(trailJs), '..', 'dist', 'trail');
  if (!existsSync(front))
    throw new Error(`${front} is missing: build it (node packaging/native.mjs, or npm run build)`);
  return front;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = args.work ?? mkdtempSync(join(tmpdir(), 'trail-speed-'));
  mkdirSync(work, { recursive: true });
  for (const e of readdirSync(work))
    if (/^(run-|home$|trail$)/.test(e)) rmSync(join(work, e), { recursive: true, force: true });
  const home = join(work, 'home');
  mkdirSync(home);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'gc.auto',
    GIT_CONFIG_VALUE_0: '0',
    GIT_CONFIG_KEY_1: 'maintenance.auto',
    GIT_CONFIG_VALUE_1: 'false',
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
    NO_COLOR: '1',
  };
  delete env.TRAIL_NO_WATCHER;
  // Set by some sandboxes and CI runners, not on a server: Node then parses that certificate
  // file at every start (~45 ms of CPU measured here), which both trail and `node -e 0` would
  // pay. None of the commands measured uses TLS.
  const caCerts = env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_EXTRA_CA_CERTS;
  TRAIL = freezeBuild(root, work);
  // What users run has the stat index checked in C: a build without it would label the
  // JavaScript check's figures as those of trail.
  const addon = join(dirname(TRAIL), '..', 'dist', 'index-check.node');
  if (!existsSync(addon))
    throw new Error(`${addon} is missing: build it (node packaging/native.mjs, or npm run build)`);
  const started = new Date();
  const load0 = loadavg();
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    for (const [i, n] of args.files.entries())
      await benchTree(n, args.pairs[i] ?? args.pairs.at(-1) ?? 3, args, work, env, rows, notes);
  } finally {
    if (!args.work) rmSync(work, { recursive: true, force: true });
  }
  const load1 = loadavg();
  const md = [
    '# trail speed (bench/speed.ts): latest run',
    '',
    `${started.toISOString()} · \`node dist/bench/speed.js --files ${args.files.join(',')} --pairs ${args.pairs.join(',')} --rounds ${args.rounds}\``,
    '',
    `Machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GB RAM, Linux ${release()}, Node ${process.version}, ${sh('git', ['--version']).trim()}.`,
    ...(caCerts
      ? ["NODE_EXTRA_CA_CERTS, set on this machine, was taken out of the commands' environment (see bench/speed.ts)."]
      : []),
    `Load average (1/5/15 min) before: ${load0.map((x) => x.toFixed(2)).join(' ')}; after: ${load1.map((x) => x.toFixed(2)).join(' ')} — a shared machine; the table gives the 1-minute load at each measurement.`,
    '',
    table(rows),
    '',
    "A and B ran alternately (first snapshot: A B A B on fresh repositories, trail's background repack waited for before B; status: the scan and git alternately before the daemon starts, then every command in rotating order). Each ratio is the median of the per-pair ratios A/B, with their min–max; wall times are medians with min–max. CPU is user+sys of the command and its children.",
    '',
    ...notes,
    '',
  ].join('\n');
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, md);
  process.stdout.write('\n' + md);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
