// Log integrity benchmark (issue 10): a big log appended to fast, checkpointed as trail watch
// does (running hash kept in memory, so a checkpoint reads only what was appended). Reports
// the CPU trail spends and the bytes the shadow repository grows by, per MB appended, with and
// without logs.keepAppended; then the cost of a full re-verification (trail logs verify).
//
// The target is 1 GB at 10 MB/s; scaled here by --mb (default 256) so it runs in
// under a minute on a loaded machine. CPU per MB does not depend on the total.
//
// usage: node dist/bench/logs.js [--mb 256] [--step 16]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repo } from '../src/record/repo/repo.js';
import { checkpointLogs, verifyLogs, type LiveHashes } from '../src/logs/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'trail.js');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const TOTAL_MB = Number(arg('mb', '256'));
const STEP_MB = Number(arg('step', '16'));
const MB = 1 << 20;

/** syslog-like lines: timestamps, pids, users, addresses and key fingerprints vary as in a real
 * auth.log, so compression of kept bytes is neither flattered nor penalised. */
function block(seed: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  let i = seed * 100_000;
  while (size < MB) {
    const l = `Nov 26 04:${String((i >> 6) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} host sshd[${10_000 + ((i * 7919) % 50_000)}]: Accepted publickey for user${i % 97} from 10.${i % 256}.${(i >> 8) % 256}.${(i * 31) % 256} port ${1024 + ((i * 131) % 60_000)} ssh2: ED25519 SHA256:${randomBytes(12).toString('base64')}\n`;
    lines.push(l);
    size += l.length;
    i++;
  }
  return Buffer.from(lines.join('')).subarray(0, MB);
}

function du(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += du(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

function cli(home: string, args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, TRAIL_HOME: home },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`trail ${args.join(' ')}: ${r.stderr}`);
}

async function runOnce(keep: boolean): Promise<Record<string, number | string>> {
  const work = mkdtempSync(join(tmpdir(), `logbench-${keep ? 'keep' : 'hash'}-`));
  const dir = join(work, 'log');
  const home = join(work, 'home');
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'big.log');
  writeFileSync(log, '');
  cli(home, ['init', dir, '--json']);
  cli(home, ['config', 'set', 'logs.paths', 'big.log']);
  if (keep) cli(home, ['config', 'set', 'logs.keepAppended', 'true']);
  const repoDir = readdirSync(home).find((n) => n.endsWith('.git'))!;
  const repo = await Repo.open(join(home, repoDir));
  const live: LiveHashes = new Map();
  await checkpointLogs(repo, { live });
  const before = du(repo.gitDir);
  let cpuUs = 0;
  let wallMs = 0;
  let checkpoints = 0;
  for (let done = 0; done < TOTAL_MB;) {
    for (let k = 0; k < STEP_MB && done < TOTAL_MB; k++, done++) appendFileSync(log, block(done)); // unique content: kept chunks must not deduplicate
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await checkpointLogs(repo, { live });
    wallMs += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
    checkpoints++;
    if (r.incidents.length) throw new Error(`unexpected incident: ${r.incidents[0]!.summary}`);
  }
  const stored = du(repo.gitDir) - before;
  const v0 = process.cpuUsage();
  const t1 = performance.now();
  const v = await verifyLogs(repo);
  const verifyMs = performance.now() - t1;
  const vc = process.cpuUsage(v0);
  if (v[0]?.status !== 'intact') throw new Error(`verify: ${JSON.stringify(v[0])}`);
  repo.close();
  rmSync(work, { recursive: true, force: true });
  return {
    keepAppended: String(keep),
    appendedMB: TOTAL_MB,
    checkpoints,
    'cpu ms per MB appended': +(cpuUs / 1000 / TOTAL_MB).toFixed(2),
    'wall ms per checkpoint': +(wallMs / checkpoints).toFixed(0),
    'bytes stored per MB appended': Math.round(stored / TOTAL_MB),
    'full verify: MB/s (CPU)': +(TOTAL_MB / ((vc.user + vc.system) / 1e6)).toFixed(0),
    'full verify: wall s': +(verifyMs / 1000).toFixed(2),
  };
}

const rows = [await runOnce(false), await runOnce(true)];
console.log(
  `log integrity: ${TOTAL_MB} MB appended, a checkpoint every ${STEP_MB} MB (at 10 MB/s and logs.checkpointSeconds=60 a checkpoint sees 600 MB; CPU per MB is the same)`,
);
console.table(rows);
// At 10 MB/s, N ms of CPU per MB is N × 10 ms per second: N % of one core.
for (const r of rows)
  console.log(
    `keepAppended=${r.keepAppended}: a log appended at 10 MB/s costs trail ${r['cpu ms per MB appended']}% of one core (CPU of trail only; writing the log is not counted)`,
  );
