// Burst benchmark (not a test: runs only as `node dist/test/attribute/burst-bench.js run
// [--no-audit]`). 3 login users × 3,000 changes in about 10 s on a 3,000-file tree under a
// real trail watch with real audit; then, from git itself: changes lost (final content not
// in the trail), attributed to a wrong person, attributed to "unknown", audit records lost,
// and the daemon's peak RSS and CPU time.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';

const blobId = (s: string) =>
  createHash('sha1')
    .update(`blob ${Buffer.byteLength(s)}\0`)
    .update(s)
    .digest('hex');
import { asLogin, auditReady, ensureUser, Fixture, waitFor, Watch } from './helpers.js';

const USERS = ['bob', 'alice', 'carol'];
const DIRS = 30;
const PER_DIR = 100;
const CHANGES = 3000;
const SECONDS = 10;

const WRITER = `
const fs = require('fs');
const [dir, user, n, seconds, ...files] = process.argv.slice(2);
let i = 0;
const total = Number(n), perTick = Math.ceil(total / (Number(seconds) * 100));
const tick = () => {
  for (let k = 0; k < perTick && i < total; k++, i++) fs.writeFileSync(dir + '/' + files[i % files.length], user + ' ' + i + '\\n');
  if (i < total) setTimeout(tick, 10);
};
tick();
`;

function lost(): number {
  const r = spawnSync('auditctl', ['-s'], { encoding: 'utf8' });
  return Number(/^lost (\d+)/m.exec(r.stdout)?.[1] ?? 0);
}

function procStats(pid: number): { rssKb: number; hwmKb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tck = 100;
  return {
    rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]),
    hwmKb: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]),
    cpuS: (Number(f[11]) + Number(f[12])) / tck,
  };
}

async function main(): Promise<void> {
  const noAudit = process.argv.includes('--no-audit');
  const why = await auditReady();
  if (why) throw new Error(`no audit: ${why}`);
  for (const u of USERS) ensureUser(u);
  const f = new Fixture('burst');
  const owner = new Map<string, string>();
  const files: Record<string, string[]> = Object.fromEntries(USERS.map((u) => [u, []]));
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(f.work, `d${d}`), { mode: 0o777 });
    for (let i = 0; i < PER_DIR; i++) {
      const p = `d${d}/f${i}.conf`;
      writeFileSync(join(f.work, p), 'initial\n', { mode: 0o666 });
      const u = USERS[(d * PER_DIR + i) % USERS.length]!;
      owner.set(p, u);
      files[u]!.push(p);
    }
  }
  spawnSync('chmod', ['-R', 'a+rwX', f.work]);
  await f.init();
  if (noAudit) await f.trail(['--name', f.name, 'config', 'set', 'attribute.audit', 'off']);
  const writer = join(f.base, 'writer.cjs');
  writeFileSync(writer, WRITER, { mode: 0o644 });
  const watch = new Watch(f);
  await watch.started();
  const pid = watch.pid;
  const before = procStats(pid);
  const lost0 = lost();
  const t0 = Date.now();
  await Promise.all(
    USERS.map((u) => asLogin(u, [process.execPath, writer, f.work, u, String(CHANGES), String(SECONDS), ...files[u]!])),
  );
  const writeS = (Date.now() - t0) / 1000;
  // Everything recorded: the last content of every file is in the trail.
  const expected = new Map<string, string>();
  for (const u of USERS) {
    const list = files[u]!;
    for (let i = Math.max(0, CHANGES - list.length); i < CHANGES; i++)
      expected.set(list[i % list.length]!, `${u} ${i}\n`);
  }
  let missing = 0;
  await waitFor(
    'the trail to hold the last write of every file',
    async () => {
      const out = (await f.git(['ls-tree', '-r', 'refs/heads/observed'])).stdout.toString();
      const oid = new Map(
        out
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.split('\t')[1]!, l.split(' ')[2]!.split('\t')[0]!]),
      );
      missing = [...expected].filter(([p, content]) => oid.get(p) !== blobId(content)).length;
      return missing === 0;
    },
    600_000,
    () => `${missing} file(s) not yet recorded`,
  ).catch(() => undefined);
  const recordS = (Date.now() - t0) / 1000;
  const after = procStats(pid);
  const lost1 = lost();
  // Every commit's paths against the author: who owned each path.
  const log = (await f.git(['log', '-z', '--name-only', '--format=%x1e%an', 'refs/heads/observed'])).stdout.toString();
  let wrong = 0,
    unknown = 0,
    joint = 0,
    right = 0,
    commits = 0;
  for (const rec of log.split('\x1e').filter(Boolean)) {
    const [head, ...rest] = rec.split('\0');
    const author = head!.trim();
    if (author === 'root') continue; // init and watch start/stop
    const paths = rest.map((s) => s.trim()).filter((p) => owner.has(p));
    if (!paths.length) continue;
    commits++;
    for (const p of paths) {
      if (author === owner.get(p)) right++;
      else if (author === 'unknown') unknown++;
      else if (author.split(', ').includes(owner.get(p)!)) joint++;
      else wrong++;
    }
  }
  await watch.stop();
  console.log(
    JSON.stringify(
      {
        audit: !noAudit,
        users: USERS.length,
        changesPerUser: CHANGES,
        files: owner.size,
        writeSeconds: writeS,
        recordedAfterSeconds: recordS,
        filesMissing: missing,
        commits,
        pathCommitsRight: right,
        pathCommitsWrong: wrong,
        pathCommitsUnknown: unknown,
        pathCommitsNamingSeveral: joint,
        auditRecordsLost: lost1 - lost0,
        daemonCpuSeconds: +(after.cpuS - before.cpuS).toFixed(2),
        daemonPeakRssMB: +(after.hwmKb / 1024).toFixed(1),
      },
      null,
      2,
    ),
  );
  f.cleanup();
}

if (process.argv[2] === 'run') await main();
