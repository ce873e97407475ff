// What the daemon benchmarks (bench/watch.ts, bench/publish.ts) share: the generated tree,
// `trail watch` started as the systemd unit starts it, its JSON lines timed as they arrive,
// and its memory and CPU read from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'trail.js');
/** Clock ticks per second of utime/stime in /proc/PID/stat (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
export const median = (xs: number[]) => pct(xs, 50);
/** git's blob id of these bytes. */
export const blobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** An /etc-like tree from make-etc-tree.py, made once and reused (a `.complete` marker). */
export function makeTree(dest: string, files: number, seed?: number): void {
  if (existsSync(join(dest, '.complete'))) return;
  rmSync(dest, { recursive: true, force: true });
  const script = [join(ROOT, 'bench', 'make-etc-tree.py'), '/work/shared/bench/make-etc-tree.py'].find(existsSync);
  if (!script) throw new Error('make-etc-tree.py not found in bench/ or /work/shared/bench/');
  console.error(`generating ${files} files in ${dest} …`);
  const more = seed === undefined ? [] : ['--seed', String(seed)];
  const r = spawnSync('python3', [script, dest, '--files', String(files), ...more], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('make-etc-tree.py failed');
  writeFileSync(join(dest, '.complete'), '');
}

/** Regular files of the tree (relative paths) that its owner may write, skipping the marker.
 * `publicOnly`: also only those anyone may read — the tree's secrets (0600/0640) are
 * recorded by digest, so their content is never on the remote. */
export function listFiles(dir: string, publicOnly = false): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && p !== '.complete') {
        const mode = statSync(join(dir, p)).mode;
        if (mode & 0o200 && (!publicOnly || mode & 0o004)) out.push(p);
      }
    }
  };
  walk('');
  return out;
}

/** The node flags and environment templates/trail.service runs trail watch with. */
export function asTheUnit(): { flags: string[]; env: Record<string, string> } {
  const unit = readFileSync(join(ROOT, 'templates', 'trail.service'), 'utf8');
  const exec = /^ExecStart=@NODE@ (.*) @TRAIL@ watch$/m.exec(unit)?.[1] ?? '';
  const env: Record<string, string> = {};
  for (const [, line] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const kv of line!.split(' ')) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return { flags: exec.split(' ').filter(Boolean), env };
}

export interface ProcStatus {
  rssMB: number;
  hwmMB: number;
  /** utime + stime of the daemon itself. */
  cpuTicks: number;
  /** utime + stime of its children once reaped (git push, the anchoring process, …). */
  childTicks: number;
}

/** `trail watch --json`, each line timed as it arrives. */
export class Watcher {
  child: ChildProcess;
  lines: { t: number; l: Record<string, unknown> }[] = [];
  constructor(env: NodeJS.ProcessEnv, args: string[]) {
    // As the systemd unit (templates/trail.service) starts it: its node flags and environment.
    // TRAIL_BENCH_NODE_FLAGS: more flags for the daemon's node (--cpu-prof, …).
    const more = process.env.TRAIL_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    const unit = asTheUnit();
    this.child = spawn(process.execPath, [...unit.flags, ...more, BIN, 'watch', '--json', ...args], {
      env: { ...env, ...unit.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      const t = performance.now();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push({ t, l: JSON.parse(buf.slice(0, i)) as Record<string, unknown> });
        buf = buf.slice(i + 1);
      }
    });
  }
  async waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    from = 0,
    timeoutMs = 600_000,
  ): Promise<{ t: number; l: Record<string, unknown> }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find((x) => pred(x.l));
      if (hit) return hit;
      if (this.child.exitCode !== null) throw new Error('trail watch exited');
      if (Date.now() > end) throw new Error('timed out');
      await sleep(2);
    }
  }
  status(): ProcStatus {
    const s = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      rssMB: kb('VmRSS') / 1024,
      hwmMB: kb('VmHWM') / 1024,
      cpuTicks: Number(f[11]) + Number(f[12]),
      childTicks: Number(f[13]) + Number(f[14]),
    };
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await new Promise((r) => this.child.on('exit', r));
  }
}
