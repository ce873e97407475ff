// trail watch publishing to a remote (issue 16, "Measure"), against the tests' GitHub stand-in
// (test/support/github-server.ts: real `git http-backend` pushes into a bare repository),
// run in a child process of its own so that its synchronous git calls never delay this
// process's timing of the remote:
//   latency  write → on the remote, p50/p95, with remote.pushDelaySeconds 5 (the default)
//            and 1, in alternating blocks (5 1 5 1); the remote's branch file is read
//            directly (no request that would disturb the server), and a new tip is checked
//            for the written file's blob
//   cost     the same tree watched without a remote, with one (checkpoints every 300 s, the
//            default) and with one and checkpoints every 2 s, in rotation: RSS 5 s after start
//            and after a 10,000-change burst, the pushes that burst took, that the remote ends
//            equal to the disk, and CPU (utime+stime, children included) over an idle minute
//   sign     write → commit beyond the quiet window, signed (the host key present) and
//            unsigned, alternated. trail has no setting that turns signing off: it signs
//            whenever $TRAIL_HOME/keys/host_ed25519 can be loaded, and makes the key on first
//            need. The unsigned runs replace the keys folder by a plain file, so that the key
//            can neither be read nor made — the path a host without ssh-keygen takes (trail
//            warns once and writes unsigned commits); the bench checks the newest commit's
//            gpgsig header in each run.
// The audit feed is off (attribute.audit off) so that the host's audit rules are left alone.
// Pairs of configurations run alternately (A B A B …): this machine is shared and noisy.
//
// usage: node dist/bench/publish.js [--parts latency,cost,sign] [--sizes 3000,50000]
//        [--writes 20] [--cost-size 50000] [--rounds 3] [--idle 60] [--burst 10000]
//        [--sign-size 50000] [--sign-pairs 3] [--sign-writes 100] [--work DIR]
//        [--out bench/results/publish.json]   (trees in DIR are reused; --out merges parts)
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../src/util/exec.js';
import { maintenanceRunning } from '../src/record/store/maintenance.js';
import { FakeGitHub } from '../test/support/github-server.js';
import {
  BIN,
  blobId,
  CLK_TCK,
  listFiles,
  makeTree,
  median,
  pct,
  sleep,
  Watcher,
  type ProcStatus,
} from './daemon-probe.js';

const QUIET_MS = 100;
const OWNER = 'acme';
const HOST = 'bench';
const NAME = 'bench';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

// ------------------------------------------------------------------ the remote (child process)

/** The stand-in, serving until this process's parent goes away. Answers: {op:'repo', name}
 * → the bare repository's folder and URL; {op:'pushes', name} → accepted pushes so far. */
async function serve(root: string): Promise<void> {
  const gh = new FakeGitHub(root);
  await gh.start();
  const bot = gh.addUser('trail-bot');
  gh.addUser(OWNER);
  const send = (m: unknown) => process.send!(m);
  process.on('message', (m: { id: number; op: string; name: string }) => {
    const full = `${OWNER}/${m.name}`;
    if (m.op === 'repo') {
      const r = gh.repos.get(full) ?? gh.addRepo(OWNER, m.name);
      send({ id: m.id, dir: r.dir, gitUrl: gh.gitUrl(full) });
    } else if (m.op === 'pushes') {
      const path = `/git/${full}.git/git-receive-pack`;
      send({ id: m.id, n: gh.gitRequests.filter((r) => r.ok && r.path === path).length });
    }
  });
  process.on('disconnect', () => void gh.close().then(() => process.exit(0)));
  send({ ready: true, apiUrl: gh.apiUrl, token: bot.token });
}

class Remote {
  private next = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  apiUrl = '';
  token = '';
  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      const w = this.waiting.get(m.id as number);
      this.waiting.delete(m.id as number);
      w?.(m);
    });
  }
  static async start(root: string): Promise<Remote> {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const child = fork(fileURLToPath(import.meta.url), ['--serve', root], { stdio: 'inherit' });
    const r = new Remote(child);
    const ready = await new Promise<Record<string, unknown>>((res, rej) => {
      child.once('message', res);
      child.once('exit', () => rej(new Error('the remote stand-in exited')));
    });
    r.apiUrl = ready.apiUrl as string;
    r.token = ready.token as string;
    return r;
  }
  ask(op: string, name: string): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((res) => {
      this.waiting.set(id, res);
      this.child.send({ id, op, name });
    });
  }
  async pushes(name: string): Promise<number> {
    return (await this.ask('pushes', name)).n as number;
  }
  close(): void {
    this.child.disconnect();
  }
}

// ------------------------------------------------------------------ one trail per tree size

interface Trail {
  files: number;
  tree: string;
  home: string;
  gitDir: string;
  /** Files whose content is recorded as is (public, writable). */
  all: string[];
  env: NodeJS.ProcessEnv;
  remoteName: string;
  remoteDir: string;
  gitUrl: string;
  initialPushSeconds: number;
  trail(args: string[]): Promise<string>;
  remoteTip(branch?: string): string | undefined;
  localTip(branch?: string): Promise<string>;
  remoteBlob(rev: string, path: string): Promise<string | undefined>;
}

async function setUp(work: string, remote: Remote, files: number): Promise<Trail> {
  const base = join(work, `n${files}`);
  mkdirSync(base, { recursive: true });
  const tree = join(base, 'tree');
  makeTree(tree, files, 1);
  const home = join(base, 'home');
  const gitDir = join(base, 'trail.git');
  rmSync(home, { recursive: true, force: true });
  rmSync(gitDir, { recursive: true, force: true });
  const env = { ...process.env, TRAIL_HOME: home, GITHUB_TOKEN: remote.token, NO_COLOR: '1' };
  const trail = async (args: string[]) => (await run(process.execPath, [BIN, ...args], { env })).stdout.toString();
  let t = performance.now();
  await trail(['init', tree, '--name', NAME, '--repo', gitDir]);
  console.error(`  trail init: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  for (const [k, v] of [
    ['watch.quietMs', String(QUIET_MS)],
    ['attribute.audit', 'off'],
    ['review.host', HOST],
  ])
    await trail(['config', 'set', k!, v!]);
  const remoteName = `n${files}`;
  const r = await remote.ask('repo', remoteName);
  const remoteDir = r.dir as string;
  const gitUrl = r.gitUrl as string;
  // The first snapshot's blobs are compressed by a background repack (~30 s at 50k): not
  // while anything is measured.
  while (await maintenanceRunning(gitDir)) await sleep(200);
  const prefix = `refs/heads/trail/${HOST}/${NAME}`;
  const s: Trail = {
    files,
    tree,
    home,
    gitDir,
    all: listFiles(tree, true),
    env,
    remoteName,
    remoteDir,
    gitUrl,
    initialPushSeconds: 0,
    trail,
    remoteTip: (branch = 'observed') => {
      // receive-pack writes loose refs (the stand-in never runs gc): one small file read.
      try {
        return readFileSync(join(remoteDir, `${prefix}/${branch}`), 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    localTip: async (branch = 'observed') =>
      (await run('git', ['--git-dir', gitDir, 'rev-parse', `refs/heads/${branch}`])).stdout.toString().trim(),
    remoteBlob: async (rev, path) => {
      const out = await run('git', ['--git-dir', remoteDir, 'rev-parse', '--verify', '--quiet', `${rev}:${path}`], {
        okCodes: [0, 1, 128],
      });
      return out.code === 0 ? out.stdout.toString().trim() : undefined;
    },
  };
  // The whole first snapshot goes up once, before anything is timed.
  await trail(['remote', 'set', 'github', `${OWNER}/${remoteName}`, '--api-url', remote.apiUrl, '--git-url', gitUrl]);
  t = performance.now();
  await trail(['push']);
  s.initialPushSeconds = +((performance.now() - t) / 1000).toFixed(1);
  console.error(`  first push of the whole tree: ${s.initialPushSeconds} s`);
  return s;
}

/** With a remote: `trail remote set` (as the tests do) and whatever is unpushed sent now, so
 * that a run does not begin by pushing the previous run's backlog. Without: unset. */
async function setRemote(s: Trail, on: boolean, remote: Remote): Promise<void> {
  if (!on) {
    await s.trail(['config', 'unset', 'review.remote']);
    return;
  }
  await s.trail([
    'remote',
    'set',
    'github',
    `${OWNER}/${s.remoteName}`,
    '--api-url',
    remote.apiUrl,
    '--git-url',
    s.gitUrl,
  ]);
  await s.trail(['push']);
}

async function setting(s: Trail, key: string, value: string | undefined): Promise<void> {
  if (value === undefined) await s.trail(['config', 'unset', key]);
  else await s.trail(['config', 'set', key, value]);
}

async function startWatcher(s: Trail): Promise<Watcher> {
  const w = new Watcher(s.env, ['--source', 'inotify']);
  await w.waitFor((l) => l.event === 'start');
  return w;
}

/** Until the remote holds the local tips of observed and checkpoints (the start push). */
async function remoteInSync(s: Trail, timeoutMs = 120_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (
      s.remoteTip('observed') === (await s.localTip('observed')) &&
      s.remoteTip('checkpoints') === (await s.localTip('checkpoints'))
    )
      return true;
    await sleep(50);
  }
  return false;
}

// ------------------------------------------------------------------ 1. write → on the remote

interface LatencyBlock {
  delaySeconds: number;
  remoteMs: number[];
  commitMs: number[];
  lost: number;
}

async function latencyBlock(s: Trail, delay: number, writes: number, first: number): Promise<LatencyBlock> {
  await setting(s, 'remote.pushDelaySeconds', delay === 5 ? undefined : String(delay));
  const w = await startWatcher(s);
  await remoteInSync(s);
  await sleep((delay + 1) * 1000); // nothing left pending from the start
  const out: LatencyBlock = { delaySeconds: delay, remoteMs: [], commitMs: [], lost: 0 };
  for (let i = first; i < first + writes; i++) {
    const p = s.all[(i * 7919) % s.all.length]!;
    const content = Buffer.from(`publish latency ${i} ${Date.now()}\n`);
    const want = blobId(content);
    let seen = s.remoteTip();
    const from = w.lines.length;
    const t0 = performance.now();
    writeFileSync(join(s.tree, p), content);
    let t1 = -1;
    while (performance.now() - t0 < 60_000) {
      const tip = s.remoteTip();
      if (tip && tip !== seen) {
        const at = performance.now(); // when the new tip was seen, not when it was checked
        seen = tip;
        if ((await s.remoteBlob(tip, p)) === want) {
          t1 = at;
          break;
        }
      }
      await sleep(5);
    }
    if (t1 < 0) out.lost++;
    else out.remoteMs.push(t1 - t0);
    const c = w.lines.slice(from).find((x) => x.l.event === 'commit');
    if (c) out.commitMs.push(c.t - t0);
    // The next write comes after this one is on the remote and the publisher is idle again.
    await sleep(500 + Math.random() * 1000);
  }
  await w.stop();
  return out;
}

function summary(xs: number[]): Record<string, number> {
  return xs.length
    ? {
        n: xs.length,
        p50: +pct(xs, 50).toFixed(0),
        p95: +pct(xs, 95).toFixed(0),
        min: +Math.min(...xs).toFixed(0),
        max: +Math.max(...xs).toFixed(0),
      }
    : { n: 0 };
}

async function latencyPart(s: Trail, writes: number): Promise<Record<string, unknown>> {
  const half = Math.ceil(writes / 2);
  const blocks: LatencyBlock[] = [];
  let i = 0;
  for (const delay of [5, 1, 5, 1]) {
    const b = await latencyBlock(s, delay, half, i);
    i += half;
    console.error(
      `  delay ${delay} s: write → remote ${JSON.stringify(summary(b.remoteMs))}, write → commit p50 ${pct(b.commitMs, 50).toFixed(0)} ms, lost ${b.lost}`,
    );
    blocks.push(b);
  }
  await setting(s, 'remote.pushDelaySeconds', undefined);
  const out: Record<string, unknown> = {};
  for (const delay of [5, 1]) {
    const bs = blocks.filter((b) => b.delaySeconds === delay);
    const remoteMs = bs.flatMap((b) => b.remoteMs);
    const commitMs = bs.flatMap((b) => b.commitMs);
    out[`delay${delay}`] = {
      pushDelaySeconds: delay,
      writeToRemoteMs: summary(remoteMs),
      writeToCommitMs: summary(commitMs),
      notOnRemoteWithin60s: bs.reduce((a, b) => a + b.lost, 0),
      raw: remoteMs.map((x) => +x.toFixed(0)),
    };
  }
  return out;
}

// ------------------------------------------------------------------ 2 + 3. burst, RSS, idle CPU

type CostConfig = 'none' | 'remote' | 'remote-cp2';

interface CostRun {
  config: CostConfig;
  rssStartMB: number;
  rssAfterBurstMB: number;
  peakMB: number;
  burst: Record<string, unknown>;
  idle: { seconds: number; selfPercent: number; childrenPercent: number; totalPercent: number; pushes?: number };
}

async function burst(
  s: Trail,
  w: Watcher,
  changes: number,
  toRemote: boolean,
  remote: Remote,
): Promise<{ result: Record<string, unknown>; after: ProcStatus }> {
  const burstFiles = s.all.filter((_, i) => i % Math.max(1, Math.floor(s.all.length / 500)) === 0).slice(0, 500);
  const pushes0 = await remote.pushes(s.remoteName);
  const last = new Map<string, Buffer>();
  const perMs = changes / 10_000;
  const b0 = performance.now();
  for (let i = 0; i < changes; i++) {
    const p = burstFiles[i % burstFiles.length]!;
    const content = Buffer.from(`burst ${i} ${Date.now()} of ${p}\n${'x'.repeat(200 + (i % 300))}\n`);
    writeFileSync(join(s.tree, p), content);
    last.set(p, content);
    if (i % 100 === 0) {
      const ahead = i / perMs - (performance.now() - b0);
      if (ahead > 0) await sleep(ahead);
    }
  }
  const burstEnd = performance.now();
  const want = new Map([...last].map(([p, c]) => [p, blobId(c)]));
  const matches = async (dir: string, rev: string) => {
    const ls = (await run('git', ['--git-dir', dir, 'ls-tree', '-r', rev, '--', ...burstFiles])).stdout.toString();
    let ok = 0;
    for (const line of ls.split('\n')) {
      const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/.exec(line);
      if (m && want.get(m[2]!) === m[1]) ok++;
    }
    return ok === want.size;
  };
  let local = -1;
  let onRemote = -1;
  while (performance.now() - burstEnd < 180_000) {
    if (local < 0 && (await matches(s.gitDir, 'refs/heads/observed'))) local = performance.now() - burstEnd;
    if (local >= 0 && !toRemote) break;
    const tip = s.remoteTip();
    if (local >= 0 && tip && tip === (await s.localTip()) && (await matches(s.remoteDir, tip))) {
      onRemote = performance.now() - burstEnd;
      break;
    }
    await sleep(50);
  }
  const after = w.status();
  const result: Record<string, unknown> = {
    changes,
    files: burstFiles.length,
    seconds: +((burstEnd - b0) / 1000).toFixed(1),
    committedAfterSeconds: local < 0 ? 'NOT CAUGHT UP' : +(local / 1000).toFixed(2),
  };
  if (toRemote) {
    result.onRemoteAfterSeconds = onRemote < 0 ? 'NOT ON THE REMOTE' : +(onRemote / 1000).toFixed(2);
    result.pushes = (await remote.pushes(s.remoteName)) - pushes0;
    // Nothing lost: every recorded file of the remote's tree is the disk's.
    const tip = s.remoteTip()!;
    const ls = (await run('git', ['--git-dir', s.remoteDir, 'ls-tree', '-r', tip])).stdout.toString();
    const remoteBlobs = new Map<string, string>();
    for (const line of ls.split('\n')) {
      const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/.exec(line);
      if (m) remoteBlobs.set(m[2]!, m[1]!);
    }
    let differ = 0;
    let missing = 0;
    for (const p of s.all) {
      const b = remoteBlobs.get(p);
      if (b === undefined) missing++;
      else if (b !== blobId(readFileSync(join(s.tree, p)))) differ++;
    }
    result.remoteVsDisk = { filesCompared: s.all.length, differ, missing };
  }
  return { result, after };
}

async function costRun(s: Trail, config: CostConfig, remote: Remote, idleS: number, changes: number): Promise<CostRun> {
  await setRemote(s, config !== 'none', remote);
  await setting(s, 'remote.checkpointSeconds', config === 'remote-cp2' ? '2' : undefined);
  const w = await startWatcher(s);
  await sleep(5000);
  const st = w.status();
  const { result, after } = await burst(s, w, changes, config !== 'none', remote);
  // Idle: the background repack a burst may start is not the daemon's; let the idle cache
  // flush happen first, as bench/watch.ts does.
  while (await maintenanceRunning(s.gitDir)) await sleep(200);
  await sleep(7000);
  const p0 = config === 'none' ? 0 : await remote.pushes(s.remoteName);
  const s0 = w.status();
  await sleep(idleS * 1000);
  const s1 = w.status();
  const p1 = config === 'none' ? 0 : await remote.pushes(s.remoteName);
  await w.stop();
  const perc = (ticks: number) => +((ticks / CLK_TCK / idleS) * 100).toFixed(3);
  const r: CostRun = {
    config,
    rssStartMB: +st.rssMB.toFixed(1),
    rssAfterBurstMB: +after.rssMB.toFixed(1),
    peakMB: +Math.max(after.hwmMB, s1.hwmMB).toFixed(1),
    burst: result,
    idle: {
      seconds: idleS,
      selfPercent: perc(s1.cpuTicks - s0.cpuTicks),
      childrenPercent: perc(s1.childTicks - s0.childTicks),
      totalPercent: perc(s1.cpuTicks - s0.cpuTicks + s1.childTicks - s0.childTicks),
      ...(config === 'none' ? {} : { pushes: p1 - p0 }),
    },
  };
  console.error(`  ${config}: ${JSON.stringify(r)}`);
  return r;
}

/** Median of the pairwise values with min–max. */
function pairwise(xs: number[]): { median: number; min: number; max: number; n: number } {
  return {
    median: +median(xs).toFixed(3),
    min: +Math.min(...xs).toFixed(3),
    max: +Math.max(...xs).toFixed(3),
    n: xs.length,
  };
}

async function costPart(s: Trail, remote: Remote, rounds: number, idleS: number, changes: number) {
  const runs: CostRun[] = [];
  for (let r = 0; r < rounds; r++) {
    console.error(`  round ${r + 1} of ${rounds}`);
    for (const c of ['none', 'remote', 'remote-cp2'] as const) runs.push(await costRun(s, c, remote, idleS, changes));
  }
  await setting(s, 'remote.checkpointSeconds', undefined);
  const of = (c: CostConfig) => runs.filter((r) => r.config === c);
  const compare = (c: CostConfig) => {
    const a = of('none');
    const b = of(c);
    const pairs = a.map((x, i) => [x, b[i]!] as const);
    return {
      rssStartMBMore: pairwise(pairs.map(([x, y]) => y.rssStartMB - x.rssStartMB)),
      rssStartRatio: pairwise(pairs.map(([x, y]) => y.rssStartMB / x.rssStartMB)),
      rssAfterBurstMBMore: pairwise(pairs.map(([x, y]) => y.rssAfterBurstMB - x.rssAfterBurstMB)),
      rssAfterBurstRatio: pairwise(pairs.map(([x, y]) => y.rssAfterBurstMB / x.rssAfterBurstMB)),
      idleCpuPercentMore: pairwise(pairs.map(([x, y]) => y.idle.totalPercent - x.idle.totalPercent)),
    };
  };
  const remoteRuns = runs.filter((r) => r.config !== 'none');
  return {
    files: s.all.length,
    configs: {
      none: 'no remote (checkpoints every 300 s, as always)',
      remote: 'remote set, pushDelaySeconds 5, checkpointSeconds 300 (the defaults)',
      'remote-cp2': 'remote set, pushDelaySeconds 5, checkpointSeconds 2',
    },
    order: 'none, remote, remote-cp2; repeated',
    remoteVsNone: compare('remote'),
    remoteCp2VsNone: compare('remote-cp2'),
    burstPushes: Object.fromEntries(
      (['remote', 'remote-cp2'] as const).map((c) => [c, of(c).map((r) => r.burst.pushes as number)]),
    ),
    burstLost: remoteRuns.every(
      (r) =>
        typeof r.burst.onRemoteAfterSeconds === 'number' &&
        (r.burst.remoteVsDisk as { differ: number; missing: number }).differ === 0 &&
        (r.burst.remoteVsDisk as { differ: number; missing: number }).missing === 0,
    )
      ? 0
      : 'SOME RUN LOST CHANGES (see runs)',
    runs,
  };
}

// ------------------------------------------------------------------ 4. signing and write → commit

/** The host key in place (signed) or made impossible to read or make (unsigned). */
function hostKey(s: Trail, signed: boolean): void {
  const keys = join(s.home, 'keys');
  const off = join(s.home, 'keys.off');
  if (signed) {
    if (existsSync(off)) {
      rmSync(keys, { force: true });
      renameSync(off, keys);
    }
  } else if (!existsSync(off)) {
    renameSync(keys, off);
    writeFileSync(keys, 'not a folder: the host key can be neither read nor made (bench/publish.ts)\n');
  }
}

async function signRun(s: Trail, signed: boolean, writes: number, first: number) {
  hostKey(s, signed);
  const w = await startWatcher(s);
  await sleep(1000);
  const lat: number[] = [];
  for (let i = first; i < first + writes; i++) {
    const p = s.all[(i * 7919 + 13) % s.all.length]!;
    const from = w.lines.length;
    const t0 = performance.now();
    writeFileSync(join(s.tree, p), `sign latency ${i} ${Date.now()}\n`);
    const c = await w.waitFor((l) => l.event === 'commit', from);
    lat.push(c.t - t0 - QUIET_MS);
    await sleep(20);
  }
  await w.stop();
  const head = (await run('git', ['--git-dir', s.gitDir, 'cat-file', 'commit', 'refs/heads/observed'])).stdout;
  const isSigned = /^gpgsig /m.test(head.toString());
  if (isSigned !== signed) throw new Error(`expected a${signed ? ' signed' : 'n unsigned'} commit, got the other`);
  const r = { signed, p50: +pct(lat, 50).toFixed(1), p95: +pct(lat, 95).toFixed(1), n: lat.length };
  console.error(`  ${signed ? 'signed' : 'unsigned'}: ${JSON.stringify(r)}`);
  return { ...r, raw: lat.map((x) => +x.toFixed(1)) };
}

async function signPart(s: Trail, remote: Remote, pairs: number, writes: number) {
  await setRemote(s, false, remote);
  const runs: Awaited<ReturnType<typeof signRun>>[] = [];
  let i = 0;
  for (let k = 0; k < pairs; k++) {
    for (const signed of [false, true]) {
      runs.push(await signRun(s, signed, writes, i));
      i += writes;
    }
  }
  hostKey(s, true);
  const a = runs.filter((r) => !r.signed);
  const b = runs.filter((r) => r.signed);
  const all = (rs: typeof runs) => rs.flatMap((r) => r.raw);
  return {
    files: s.all.length,
    quietMs: QUIET_MS,
    how: 'unsigned: $TRAIL_HOME/keys replaced by a plain file (no key can be read or made); signed: the host key made at init',
    order: 'unsigned, signed; repeated',
    unsigned: { p50: +pct(all(a), 50).toFixed(1), p95: +pct(all(a), 95).toFixed(1), n: all(a).length },
    signed: { p50: +pct(all(b), 50).toFixed(1), p95: +pct(all(b), 95).toFixed(1), n: all(b).length },
    p50Ratio: pairwise(a.map((x, k) => b[k]!.p50 / x.p50)),
    p50MsMore: pairwise(a.map((x, k) => b[k]!.p50 - x.p50)),
    p95Ratio: pairwise(a.map((x, k) => b[k]!.p95 / x.p95)),
    runs,
  };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const parts = arg('parts', 'latency,cost,sign').split(',');
  const sizes = arg('sizes', '3000,50000').split(',').map(Number);
  const writes = Number(arg('writes', '20'));
  const costSize = Number(arg('cost-size', '50000'));
  const rounds = Number(arg('rounds', '3'));
  const idleS = Number(arg('idle', '60'));
  const changes = Number(arg('burst', '10000'));
  const signSize = Number(arg('sign-size', '50000'));
  const signPairs = Number(arg('sign-pairs', '3'));
  const signWrites = Number(arg('sign-writes', '100'));
  const work = resolve(arg('work', join(tmpdir(), 'trail-bench-publish')));
  const outFile = arg('out', '');

  const remote = await Remote.start(join(work, 'remote'));
  const t0 = performance.now();
  const results: Record<string, unknown> =
    outFile && existsSync(outFile) ? JSON.parse(readFileSync(outFile, 'utf8')) : {};
  const runInfo = {
    node: process.version,
    cpus: cpus().length,
    when: new Date().toISOString(),
    loadBefore: loadavg().map((x) => +x.toFixed(2)),
    remote: 'test/support/github-server.ts in a child process (git http-backend, real pushes)',
    audit: 'off (attribute.audit off)',
    quietMs: QUIET_MS,
  };
  const trails = new Map<number, Trail>();
  const trailOf = async (n: number) => {
    if (!trails.has(n)) {
      console.error(`\n== ${n} files: setting up ==`);
      trails.set(n, await setUp(work, remote, n));
    }
    return trails.get(n)!;
  };
  try {
    if (parts.includes('latency')) {
      const out: Record<string, unknown> = {};
      for (const n of sizes) {
        const s = await trailOf(n);
        console.error(`\n== ${n} files: write → on the remote ==`);
        out[`n${n}`] = {
          files: s.all.length,
          initialPushSeconds: s.initialPushSeconds,
          ...(await latencyPart(s, writes)),
        };
      }
      results.latency = { ...runInfo, ...out };
    }
    if (parts.includes('cost')) {
      const s = await trailOf(costSize);
      console.error(`\n== ${costSize} files: burst, RSS and idle CPU ==`);
      results.cost = { ...runInfo, [`n${costSize}`]: await costPart(s, remote, rounds, idleS, changes) };
    }
    if (parts.includes('sign')) {
      const s = await trailOf(signSize);
      console.error(`\n== ${signSize} files: write → commit, signed and unsigned ==`);
      results.sign = { ...runInfo, [`n${signSize}`]: await signPart(s, remote, signPairs, signWrites) };
    }
  } finally {
    remote.close();
  }
  console.error(
    `\nbench time: ${((performance.now() - t0) / 60_000).toFixed(1)} min; load ${loadavg()[0]!.toFixed(2)}`,
  );
  const text = JSON.stringify(results, null, 2) + '\n';
  if (outFile) writeFileSync(outFile, text);
  process.stdout.write(text);
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!);
else await main();
