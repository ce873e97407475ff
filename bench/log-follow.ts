// Logs watched from the first second (issue 18): a real `trail watch` over a real log.
// 1. Detection latency: a line appended, 2 s later deleted with `sed -i`; the time from sed to
//    the daemon's log-alert line (its own timestamp), --runs times; median and max.
// 2. The daemon's CPU while the log grows at --rate lines/s for --seconds (utime+stime of the
//    daemon process from /proc, the writer not counted), against the same daemon idle.
//
// usage: node dist/bench/log-follow.js [--runs 7] [--rate 1000] [--seconds 60]
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'trail.js');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const RUNS = Number(arg('runs', '7'));
const RATE = Number(arg('rate', '1000'));
const SECONDS = Number(arg('seconds', '60'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'logfollow-bench-'));
const dir = join(work, 'log');
const home = join(work, 'home');
mkdirSync(dir);
const log = join(dir, 'auth.log');
writeFileSync(log, 'boot\n');
const env: NodeJS.ProcessEnv = { ...process.env, TRAIL_HOME: home };
delete env.JOURNAL_STREAM;
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`trail ${args.join(' ')}: ${r.stderr}`);
};
cli(['init', dir, '--name', 'log']);
for (const [k, v] of [
  ['attribute.audit', 'off'],
  ['logs.paths', 'auth.log'],
  ['logs.checkpointSeconds', '60'],
])
  cli(['config', 'set', k!, v!]);
writeFileSync(join(work, 'policy.yaml'), 'alert:\n  syslog: false\n');
cli(['policy', 'set', join(work, 'policy.yaml')]);

const lines: { time: string; event: string }[] = [];
const d = spawn(process.execPath, [BIN, 'watch', '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let buf = '';
d.stdout.on('data', (b: Buffer) => {
  buf += b.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    lines.push(JSON.parse(buf.slice(0, i)));
    buf = buf.slice(i + 1);
  }
});
const waitEvent = async (event: string, from: number) => {
  for (let k = 0; k < 600; k++) {
    const l = lines.slice(from).find((x) => x.event === event);
    if (l) return l;
    await sleep(20);
  }
  throw new Error(`no ${event}`);
};
const cpu = () => {
  const f = readFileSync(`/proc/${d.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // ms, at 100 ticks/s
};

try {
  await waitEvent('start', 0);
  const lat: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    appendFileSync(log, `Nov 26 04:00:0${r} host sshd[${100 + r}]: Accepted password for mallory-${r}\n`);
    await sleep(2000);
    const from = lines.length;
    const t0 = Date.now();
    spawnSync('sed', ['-i', `/mallory-${r}/d`, log]);
    const a = await waitEvent('log-alert', from);
    lat.push(Date.parse(a.time) - t0);
    await sleep(500);
  }
  lat.sort((a, b) => a - b);
  console.log(
    `sed -i → alert, ${RUNS} runs: median ${lat[Math.floor(lat.length / 2)]} ms, max ${lat.at(-1)} ms (${lat.join(', ')})`,
  );

  const idle0 = cpu();
  await sleep(SECONDS * 1000);
  const idle = cpu() - idle0;
  const c0 = cpu();
  const t0 = Date.now();
  let n = 0;
  // One write per line, as a syslog daemon writes: 1,000 small appends a second.
  while (Date.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    for (; n < due; n++)
      appendFileSync(
        log,
        `Nov 26 04:${String(n % 60).padStart(2, '0')} host sshd[${n}]: session opened for user${n % 97}\n`,
      );
    await sleep(5);
  }
  await sleep(3000);
  const busy = cpu() - c0;
  const alerts = lines.filter((l) => l.event === 'log-alert').length;
  console.log(
    `daemon CPU: idle ${((idle / (SECONDS * 1000)) * 100).toFixed(2)}% of one core; log growing at ${RATE} lines/s for ${SECONDS} s (${n} lines): ${((busy / ((SECONDS + 3) * 1000)) * 100).toFixed(2)}% of one core; alerts ${alerts} (expected ${RUNS})`,
  );
} finally {
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
  rmSync(work, { recursive: true, force: true });
}
