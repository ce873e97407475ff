import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  /** Wall-clock seconds, from this process's monotonic clock around spawn → exit. */
  wall: number;
  user: number;
  sys: number;
  /** Peak resident set in MB: ru_maxrss of the child. For a command that spawns others
   * (`sh -c 'git add && git commit'`, trail calling git) it is the largest single process of
   * the tree, not their sum: wait4 reports the max over the waited-for descendants. */
  rssMB: number;
  code: number;
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  okCodes?: number[];
}

const GNU_TIME = '/usr/bin/time';
/** How peak RSS is taken: GNU time when installed, else a small Python wrapper that reads
 * getrusage(RUSAGE_CHILDREN) — the same wait4 numbers either way. */
export const rssMethod = existsSync(GNU_TIME)
  ? 'GNU time (/usr/bin/time -f %M: wait4 ru_maxrss)'
  : 'python3 resource.getrusage(RUSAGE_CHILDREN).ru_maxrss';

const PY_WRAPPER = `
import resource, subprocess, sys
out = sys.argv[1]
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(out, 'w').write('%f %f %d %d\\n' % (r.ru_utime, r.ru_stime, r.ru_maxrss, rc))
`;

const scratch = mkdtempSync(join(tmpdir(), 'trail-measure-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

export function measure(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Measured> {
  const report = join(scratch, `m${seq++}`);
  const [prog, argv] = existsSync(GNU_TIME)
    ? [GNU_TIME, ['-f', '%U %S %M %x', '-o', report, cmd, ...args]]
    : ['python3', ['-c', PY_WRAPPER, report, cmd, ...args]];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(prog, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', () => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const fields = readFileSync(report, 'utf8').trim().split('\n').pop()!.split(/\s+/);
      const [user, sys, rssKB, code] = fields.map(Number) as [number, number, number, number];
      const m: Measured = {
        wall,
        user,
        sys,
        rssMB: rssKB / 1024,
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (!(opts.okCodes ?? [0]).includes(code)) {
        reject(
          new Error(`${cmd} ${args.join(' ')} exited ${code}: ${m.stderr.trim().split('\n').slice(-5).join(' | ')}`),
        );
      } else resolve(m);
    });
  });
}

/** Runs a setup step (not measured); throws on failure. */
export function sh(cmd: string, args: string[], opts: MeasureOptions = {}): string {
  const r = spawnSync(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  if (!(opts.okCodes ?? [0]).includes(r.status ?? -1))
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A frozen copy of the build under `work`, and the path of its `bin/trail.js`: others may
 * rebuild dist/ while a long run goes on, and a half-written module would crash (or silently
 * change) the trail being measured. What users run is measured: the bundle, with its code
 * cache (packaging/bundle.mjs). bin/trail.js skips a bundle older than dist/src, and then
 * loads ~200 modules one by one (tens of ms per command): such a build is refused here, since
 * every figure of the run would be off (a fourteenth-session run was, after a bare `tsc`).
 */
export function freezeBuild(root: string, work: string): string {
  const bundle = join(root, 'dist', 'trail.cjs');
  const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < statSync(compiled).mtimeMs)
    throw new Error(
      `${bundle} is missing or older than dist/src: run node packaging/bundle.mjs (or npm run build) first`,
    );
  const frozen = join(work, 'trail');
  mkdirSync(join(frozen, 'dist'), { recursive: true });
  // Timestamps kept: the bundle must stay newer than dist/src in the copy too.
  cpSync(join(root, 'dist', 'src'), join(frozen, 'dist', 'src'), { recursive: true, preserveTimestamps: true });
  // With the native parts where they were built (packaging/native.mjs): the front, and the
  // stat index check, without which a status with no daemon is measured in JavaScript.
  for (const f of ['trail.cjs', 'trail.cjs.cache', 'trail', 'index-check.node'])
    if (existsSync(join(root, 'dist', f)))
      cpSync(join(root, 'dist', f), join(frozen, 'dist', f), { preserveTimestamps: true });
  cpSync(join(root, 'bin'), join(frozen, 'bin'), { recursive: true });
  cpSync(join(root, 'package.json'), join(frozen, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(frozen, 'node_modules'));
  return join(frozen, 'bin', 'trail.js');
}
