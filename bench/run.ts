// trail side by side with native git and AIDE, on the same generated /etc-like trees, in the
// same run: `npm run bench -- --files 3000,50000 --runs 3`.
//
// Caches are NOT dropped between measurements (a shared machine; dropping needs root over
// everyone's page cache): every tree is read once before timing and every command runs warm.
// Commands are interleaved run by run so that noise from other load hits all of them alike.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  appendFileSync,
  renameSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freezeBuild,
  measure as measureNow,
  median,
  rssMethod,
  sh,
  type Measured,
  type MeasureOptions,
} from './measure.js';
import { crossover } from './crossover.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root: dist/bench/run.js → ../.. */
const root = resolve(here, '..', '..');
/** Set in main(): a frozen copy of the build, see there. */
let TRAIL = join(root, 'bin', 'trail.js');
const MAKE_TREE = join(root, 'bench', 'make-etc-tree.py');

/** Every measured command starts with no dirty pages left by the one before: git does not
 * fsync by default and leaves ~200 MB of loose objects for the kernel to write back; trail
 * fsyncs its pack, and on ext4 that journal commit would wait for the other's writeback. */
function measure(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Measured> {
  sh('sync', []);
  return measureNow(cmd, args, opts);
}

interface Args {
  files: number[];
  runs: number;
  aideWorkers: string;
  keep: boolean;
  out: string;
  crossover: boolean;
  /** Reuse this work dir: trees already built there are not built again (kept afterwards). */
  work?: string;
  /** Only these measures (init is always run: the others need its repositories). */
  only?: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    files: [3000, 50000],
    runs: 3,
    aideWorkers: '1',
    keep: false,
    out: join(root, 'bench', 'results', 'latest.md'),
    crossover: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--files')
      a.files = v()
        .split(',')
        .map((s) => Number(s.trim()));
    else if (k === '--runs') a.runs = Number(v());
    else if (k === '--aide-workers') a.aideWorkers = v();
    else if (k === '--keep') a.keep = true;
    else if (k === '--out') a.out = resolve(v());
    else if (k === '--crossover') a.crossover = true;
    else if (k === '--work') a.work = resolve(v());
    else if (k === '--only')
      a.only = new Set(
        v()
          .split(',')
          .map((x) => x.trim()),
      );
    else if (k === '-h' || k === '--help') {
      process.stdout.write(
        'usage: npm run bench -- [--files 3000,50000] [--runs 3] [--aide-workers 1|N|P%] [--out FILE] [--keep] [--crossover] [--work DIR] [--only init,status,full,change]\n' +
          '  --work DIR      reuse DIR: trees built there before are used again (and DIR is kept)\n' +
          '  --only LIST     measure only these (init always runs: the others need what it made)\n' +
          '  --aide-workers  AIDE num_workers (its default is 1; 100% gives it every core)\n' +
          '  --crossover     also time LooseWriter against PackWriter for small batches\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${k}`);
  }
  if (a.files.some((n) => !Number.isInteger(n) || n <= 0) || !(a.runs >= 1))
    throw new Error('--files and --runs take positive integers');
  return a;
}

function ensureAide(): string {
  try {
    return sh('aide', ['--version']).trim().split('\n')[0]!;
  } catch {
    process.stderr.write('aide is missing: installing it from Debian (apt-get install -y aide)\n');
    sh('apt-get', ['install', '-y', '-q', 'aide'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return sh('aide', ['--version']).trim().split('\n')[0]!;
  }
}

function machine(aideVersion: string) {
  const cpu = cpus()[0]?.model ?? 'unknown';
  return {
    cpu,
    cores: availableParallelism(),
    memGB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    git: sh('git', ['--version']).trim(),
    aide: aideVersion,
  };
}

/** Apparent bytes of every file under `dir` (what a backup or a push would carry). */
function treeBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += treeBytes(p);
    else {
      try {
        total += lstatSync(p).size;
      } catch {
        /* gone while walking (a temp file renamed into place) */
      }
    }
  }
  return total;
}

/** Reads every file once so that every tool starts from the same warm page cache. */
function warm(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) warm(p);
    else if (e.isFile()) {
      try {
        readFileSync(p);
      } catch {
        /* unreadable: every tool will meet the same */
      }
    }
  }
}

function firstFile(dir: string, depth = 0): string | undefined {
  const ents = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  // A file a few folders down: the change then rewrites a chain of trees, as a real one does.
  if (depth < 2)
    for (const e of ents)
      if (e.isDirectory()) {
        const f = firstFile(join(dir, e.name), depth + 1);
        if (f) return f;
      }
  for (const e of ents) if (e.isFile() && e.name.endsWith('.conf')) return join(dir, e.name);
  return undefined;
}

function aideConf(dir: string, tree: string, workers: string, dbIn: string, dbOut: string): string {
  const conf = join(dir, 'aide.conf');
  // AIDE selection lines are regular expressions: escape the path.
  const re = tree.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  writeFileSync(
    conf,
    [
      `database_in=file:${dbIn}`,
      `database_out=file:${dbOut}`,
      'gzip_dbout=no',
      'report_url=stdout',
      `num_workers=${workers}`,
      // What trail records and checks: permissions, owner, group, size, mtime, content hash.
      'TrailRule = p+u+g+s+m+sha256',
      `${re} TrailRule`,
      '',
    ].join('\n'),
  );
  return conf;
}

interface Row {
  files: number;
  what: string;
  trail?: Measured[];
  git?: Measured[];
  aide?: Measured[];
  target?: { vs: 'git' | 'aide'; ratio: number };
  note?: string;
}

async function benchTree(
  n: number,
  args: Args,
  work: string,
  env: NodeJS.ProcessEnv,
  rows: Row[],
  extra: string[],
): Promise<void> {
  const tree = join(work, `etc-${n}`);
  process.stderr.write(`\n== ${n} files: building ${tree}\n`);
  // A tree built by an earlier run with --work is used again (make-etc-tree.py is
  // deterministic); the change step's edit is undone by rebuilding, so it is not reused then.
  const stamp = join(work, `etc-${n}.made`);
  if (existsSync(tree) && !existsSync(stamp)) rmSync(tree, { recursive: true, force: true });
  const made = existsSync(stamp)
    ? readFileSync(stamp, 'utf8')
    : sh('python3', [MAKE_TREE, tree, '--files', String(n)]).trim();
  writeFileSync(stamp, made);
  const bytes = treeBytes(tree);
  extra.push(`- ${n}: ${made.replace(tree + ': ', '')}, ${(bytes / 2 ** 20).toFixed(0)} MB`);
  warm(tree);

  const gitEnv = (gitDir: string) => ({ ...env, GIT_DIR: gitDir, GIT_WORK_TREE: tree });
  const initRow: Row = {
    files: n,
    what: 'first snapshot: `trail init` / `git add -A && git commit` / `aide --init`',
    trail: [],
    git: [],
    aide: [],
    target: { vs: 'git', ratio: n >= 50000 ? 0.4 : 0.5 },
  };
  let last = { trailName: '', trailRepo: '', gitDir: '', aideDir: '', runDir: '', tenv: env };
  const repackTimes: number[] = [];
  for (let r = 0; r < args.runs; r++) {
    const runDir = join(work, `run-${n}-${r}`);
    mkdirSync(runDir, { recursive: true });
    const trailName = `bench-${n}-${r}`;
    // trail refuses to watch one directory twice: each run gets a host registry of its own.
    const tenv = { ...env, TRAIL_HOME: join(runDir, 'trail-home') };
    const trailRepo = join(runDir, 'trail.git');
    const gitDir = join(runDir, 'git.git');
    sh('git', ['init', '-q', '--bare', gitDir], { env });
    const aideDir = join(runDir, 'aide');
    mkdirSync(aideDir);
    const conf = aideConf(aideDir, tree, args.aideWorkers, join(aideDir, 'aide.db'), join(aideDir, 'aide.db.new'));
    const steps: (() => Promise<void>)[] = [
      async () => {
        initRow.trail!.push(
          await measure('node', [TRAIL, 'init', tree, '--repo', trailRepo, '--name', trailName, '--json'], {
            env: tenv,
          }),
        );
        // A big first snapshot leaves compression to a detached, niced `git repack`: wait for
        // it (it must not run under the next measurement) and say how long it took.
        const took = await waitMaintenance(trailRepo);
        if (took !== undefined) repackTimes.push(took);
      },
      async () => {
        initRow.git!.push(
          await measure('sh', ['-c', 'git add -A && git commit -q -m snapshot'], { env: gitEnv(gitDir) }),
        );
      },
      async () => {
        initRow.aide!.push(await measure('aide', [`--config=${conf}`, '--init'], { env }));
      },
    ];
    // Rotate the order run by run: no tool always goes first (or right after another's I/O).
    for (let k = 0; k < steps.length; k++) await steps[(k + r) % steps.length]!();
    process.stderr.write(
      `  init run ${r + 1}: trail ${initRow.trail!.at(-1)!.wall.toFixed(2)}s git ${initRow.git!.at(-1)!.wall.toFixed(2)}s aide ${initRow.aide!.at(-1)!.wall.toFixed(2)}s\n`,
    );
    if (r > 0 && !args.keep) {
      // Keep only the latest run's repositories; a 50k-file run holds ~0.5 GB of them.
      rmSync(last.runDir, { recursive: true, force: true });
    }
    last = { trailName, trailRepo, gitDir, aideDir, runDir, tenv };
  }
  rows.push(initRow);
  if (repackTimes.length)
    extra.push(
      `- ${n}: trail's background repack after init (nice 19, one thread; not in the init time): ${repackTimes.map((x) => x.toFixed(1) + ' s').join(', ')} wall; pack ${fmtBytes(packBytes(join(last.trailRepo, 'objects', 'pack')))} after it`,
    );
  renameSync(join(last.aideDir, 'aide.db.new'), join(last.aideDir, 'aide.db'));
  const conf = join(last.aideDir, 'aide.conf');

  const want = (what: string) => !args.only || args.only.has(what);
  if (!want('init')) rows.pop();
  // Stat fast path: nothing changed, both tools only compare stat data with their index.
  if (want('status')) {
    const statusRow: Row = {
      files: n,
      what: 'status, nothing changed: `trail status` / `git status`',
      trail: [],
      git: [],
      target: { vs: 'git', ratio: 1.0 },
    };
    const trailStatus = () =>
      measure('node', [TRAIL, 'status', '--name', last.trailName, '--json'], { env: last.tenv });
    const gitStatus = () => measure('git', ['status', '--porcelain'], { env: gitEnv(last.gitDir) });
    await trailStatus();
    await gitStatus(); // the first run after a commit may refresh the index; not what we time
    for (let r = 0; r < args.runs; r++) {
      statusRow.trail!.push(await trailStatus());
      statusRow.git!.push(await gitStatus());
    }
    for (const m of statusRow.trail!) {
      const res = JSON.parse(m.stdout) as { clean: boolean };
      if (!res.clean) throw new Error(`trail status found changes in an untouched tree: ${m.stdout.slice(0, 500)}`);
    }
    if (statusRow.git!.some((m) => m.stdout.trim() !== ''))
      throw new Error('git status found changes in an untouched tree');
    rows.push(statusRow);
  }

  // Every byte re-hashed: what an integrity checker does.
  if (want('full')) {
    const fullRow: Row = {
      files: n,
      what: 'full check, every byte re-hashed: `trail status --full` / `aide --check`',
      trail: [],
      aide: [],
      target: { vs: 'aide', ratio: 0.1 },
    };
    for (let r = 0; r < args.runs; r++) {
      const pair = [
        async () =>
          fullRow.trail!.push(
            await measure('node', [TRAIL, 'status', '--full', '--name', last.trailName, '--json'], { env: last.tenv }),
          ),
        async () => fullRow.aide!.push(await measure('aide', [`--config=${conf}`, '--check'], { env })),
      ];
      for (let k = 0; k < 2; k++) await pair[(k + r) % 2]!();
    }
    rows.push(fullRow);
  }
  if (!want('change')) return;

  // Growth: one file changes; what does each repository gain by recording it?
  const victim = firstFile(tree)!;
  const trailBefore = treeBytes(last.trailRepo);
  const gitBefore = treeBytes(last.gitDir);
  const trailObjBefore = treeBytes(join(last.trailRepo, 'objects'));
  const gitObjBefore = treeBytes(join(last.gitDir, 'objects'));
  appendFileSync(victim, 'bench_change = 1\n');
  rmSync(stamp, { force: true }); // the tree differs from what make-etc-tree.py builds now
  const growRow: Row = {
    files: n,
    what: 'one-file change recorded: `trail snapshot` / `git add -A && git commit`',
    trail: [],
    git: [],
  };
  growRow.trail!.push(
    await measure('node', [TRAIL, 'snapshot', '--name', last.trailName, '-m', 'bench: one file', '--json'], {
      env: last.tenv,
    }),
  );
  growRow.git!.push(
    await measure('sh', ['-c', 'git add -A && git commit -q -m one-file'], { env: gitEnv(last.gitDir) }),
  );
  const trailGrowth = treeBytes(last.trailRepo) - trailBefore;
  const gitGrowth = treeBytes(last.gitDir) - gitBefore;
  const trailObj = treeBytes(join(last.trailRepo, 'objects')) - trailObjBefore;
  const gitObj = treeBytes(join(last.gitDir, 'objects')) - gitObjBefore;
  growRow.note = `objects added: trail +${fmtBytes(trailObj)}, git +${fmtBytes(gitObj)}`;
  rows.push(growRow);
  extra.push(
    `- ${n}: one-file change → objects/ grew by ${trailObj} B (trail) and ${gitObj} B (git); ` +
      `the whole repository dir by ${trailGrowth} B (trail, incl. its stat cache) and ${gitGrowth} B (git, incl. its index)`,
  );
}

/** Seconds until trail's background maintenance of `repo` is done (undefined: none ran). */
async function waitMaintenance(repo: string): Promise<number | undefined> {
  const lock = join(repo, 'trail', 'maintenance.lock');
  const started = Date.now();
  // The detached process takes its lock a moment after init returns.
  while (!existsSync(lock) && Date.now() - started < 1500) await new Promise((r) => setTimeout(r, 20));
  if (!existsSync(lock)) return undefined;
  while (existsSync(lock)) await new Promise((r) => setTimeout(r, 100));
  return (Date.now() - started) / 1000;
}

function packBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + lstatSync(join(dir, f)).size, 0);
}

function fmtBytes(b: number): string {
  return b < 10 * 1024 ? `${b} B` : b < 10 * 2 ** 20 ? `${(b / 1024).toFixed(1)} KB` : `${(b / 2 ** 20).toFixed(1)} MB`;
}

function cell(ms: Measured[] | undefined): string {
  if (!ms?.length) return '—';
  return `${median(ms.map((m) => m.wall)).toFixed(2)} s`;
}
function cpu(ms: Measured[] | undefined): string {
  if (!ms?.length) return '—';
  return median(ms.map((m) => m.user + m.sys)).toFixed(2);
}
function cpuRatio(a: Measured[] | undefined, b: Measured[] | undefined): string {
  if (!a?.length || !b?.length) return '—';
  return (median(a.map((m) => m.user + m.sys)) / median(b.map((m) => m.user + m.sys))).toFixed(2);
}
function rss(ms: Measured[] | undefined): string {
  if (!ms?.length) return '—';
  return `${Math.max(...ms.map((m) => m.rssMB)).toFixed(0)}`;
}
function ratio(a: Measured[] | undefined, b: Measured[] | undefined): number | undefined {
  if (!a?.length || !b?.length) return undefined;
  return median(a.map((m) => m.wall)) / median(b.map((m) => m.wall));
}

function table(rows: Row[]): string {
  const lines = [
    '| files | measure | trail | git | aide | trail/git | trail/aide | target | met | CPU s trail / git / aide (ratio) | peak RSS MB trail / git / aide |',
    '|---:|---|---:|---:|---:|---:|---:|---|---|---|---|',
  ];
  for (const r of rows) {
    const rg = ratio(r.trail, r.git);
    const ra = ratio(r.trail, r.aide);
    let target = '';
    let met = '';
    if (r.target) {
      const got = r.target.vs === 'git' ? rg : ra;
      target = `≤ ${r.target.ratio}× ${r.target.vs}`;
      met = got === undefined ? '' : got <= r.target.ratio ? 'yes' : 'no';
    }
    const what = r.note ? `${r.what} (${r.note})` : r.what;
    lines.push(
      `| ${r.files} | ${what} | ${cell(r.trail)} | ${cell(r.git)} | ${cell(r.aide)} | ${rg?.toFixed(2) ?? '—'} | ${ra?.toFixed(2) ?? '—'} | ${target} | ${met} | ` +
        `${cpu(r.trail)} / ${cpu(r.git)} / ${cpu(r.aide)} (${r.git ? cpuRatio(r.trail, r.git) : cpuRatio(r.trail, r.aide)}) | ${rss(r.trail)} / ${rss(r.git)} / ${rss(r.aide)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) throw new Error('build first: npm run build');
  const aideVersion = ensureAide();
  const m = machine(aideVersion);
  const work = args.work ?? mkdtempSync(join(tmpdir(), 'trail-bench-'));
  if (args.work) {
    mkdirSync(work, { recursive: true });
    // Only the trees are reused: the repositories of an earlier run go.
    for (const e of readdirSync(work))
      if (/^(run-|home$|trail$)/.test(e)) rmSync(join(work, e), { recursive: true, force: true });
  }
  // Everything trail keeps host-wide (its list of watched dirs) stays in the scratch dir, and
  // git reads no user or system config: the numbers must not depend on who runs them.
  const home = join(work, 'home');
  mkdirSync(home);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    // No detached `git gc --auto` after a commit: at 50k files it packs every loose object in
    // the background for tens of seconds, eating the CPU of whatever is measured next.
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
  // A frozen copy of the build, bundle included (bench/measure.ts): until the fourteenth
  // session this bench copied dist/src only, so trail ran unbundled here.
  TRAIL = freezeBuild(root, work);
  const started = new Date();
  const load0 = loadavg();
  const rows: Row[] = [];
  const extra: string[] = [];
  try {
    for (const n of args.files) await benchTree(n, args, work, env, rows, extra);
  } finally {
    if (!args.keep && !args.work) rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
  let cross = '';
  if (args.crossover) cross = await crossover();
  const load1 = loadavg();

  const md = [
    '# trail benchmark: latest run',
    '',
    `${started.toISOString()} · \`npm run bench -- --files ${args.files.join(',')} --runs ${args.runs} --aide-workers ${args.aideWorkers}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGB} GB RAM, Linux ${m.kernel}, Node ${m.node}, ${m.git}, ${m.aide}.`,
    `Load average before/after: ${load0.map((x) => x.toFixed(2)).join(' ')} / ${load1.map((x) => x.toFixed(2)).join(' ')} (a shared machine: other work ran alongside).`,
    '',
    table(rows),
    '',
    `Times are medians of ${args.runs} run(s), wall clock (targets and ratios are on wall time); CPU is user+sys of the command and its children, a figure that other load on a shared machine disturbs less. The one-file change is measured once. ` +
      'Caches were not dropped (shared machine): each tree was read once before timing and every command ran warm, after a `sync` so that none pays for the writeback of the one before. trail fsyncs what it writes; git (default config) does not. ' +
      `Peak RSS: ${rssMethod}; for a command that runs others (sh → git add, git commit; trail → git) it is the largest single process, not the sum; trail's worker threads are inside its own process and counted.`,
    `AIDE rule: \`p+u+g+s+m+sha256\` (permissions, owner, group, size, mtime, SHA-256), num_workers=${args.aideWorkers}; git: a separate bare git dir, \`GIT_DIR=… GIT_WORK_TREE=…\`, default config (zlib level 6 loose objects) except gc.auto=0 (no background gc after a commit: at 50k files git would start packing every loose object, detached, for tens of seconds).`,
    '',
    'Trees (bench/make-etc-tree.py, seed 1):',
    ...extra,
    ...(cross ? ['', cross] : []),
    '',
  ].join('\n');
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, md);
  process.stdout.write('\n' + md);
  process.stderr.write(`\nwritten to ${args.out}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
