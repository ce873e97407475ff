import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { trailHome } from '../host/registry.js';

/** Where hooks live: executables named by policy rules (`hook: notify`). */
export function hooksDir(): string {
  return process.env.TRAIL_HOOKS_DIR || join(trailHome(), 'hooks');
}

export interface HookResult {
  hook: string;
  ok: boolean;
  code?: number | null;
  /** Why it failed: not found, unsafe, timed out, exit code. */
  problem?: string;
  stderr: string;
}

/**
 * Runs a hook with the event as JSON on stdin: no shell, a minimal environment, its own
 * process group, killed (with its children) after the timeout. A hook that fails or hangs is
 * reported, never thrown: it must not block recording.
 */
/** What is kept of a hook's stderr for its report. */
const STDERR_KEPT = 4096;

export async function runHook(name: string, event: unknown, timeoutMs: number): Promise<HookResult> {
  const file = join(hooksDir(), name);
  const unsafe = await whyUnsafe(file);
  if (unsafe) return { hook: name, ok: false, problem: unsafe, stderr: '' };
  return new Promise((resolve) => {
    const child = spawn(file, [], {
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', TRAIL_HOOK: name },
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true, // its own process group, so a timeout kills what it started too
      cwd: '/',
    });
    // The first STDERR_KEPT bytes, decoded once: a character split between two reads is
    // whole, and a hook that floods stderr is kept to its first 4 KiB (the rest is read and
    // dropped, so that it never blocks on a full pipe).
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let timedOut = false;
    let exited: number | null | undefined;
    child.stderr.on('data', (d: Buffer) => {
      if (keptBytes >= STDERR_KEPT) return;
      kept.push(d.subarray(0, STDERR_KEPT - keptBytes));
      keptBytes += Math.min(d.length, STDERR_KEPT - keptBytes);
    });
    const stderrText = () => new TextDecoder().decode(Buffer.concat(kept)).trim();
    child.on('exit', (code) => (exited = code));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      // 'close' waits for stderr's end too: something the hook started in a session of its
      // own (setsid, a daemon) escapes the group kill and may keep the pipe open for ever,
      // and the commit's lock with it. Past the timeout the hook's exit is all we wait for.
      child.stderr.destroy();
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ hook: name, ok: false, problem: err.message, stderr: stderrText() });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const problem = !timedOut
        ? code !== 0
          ? `exit code ${code}`
          : undefined
        : exited === undefined || exited === null
          ? `killed after ${timeoutMs} ms`
          : `exited (code ${exited}), but what it started still ran after ${timeoutMs} ms: its process group was killed, and trail stopped waiting`;
      resolve({ hook: name, ok: !problem, code, ...(problem ? { problem } : {}), stderr: stderrText() });
    });
    child.stdin.on('error', () => {}); // a hook that does not read its input is fine
    child.stdin.end(JSON.stringify(event) + '\n');
  });
}

/** A hook runs as root: it must be a regular executable that only root (or the user running
 * trail) can change. */
async function whyUnsafe(file: string): Promise<string | undefined> {
  let st;
  try {
    st = await fsp.lstat(file);
  } catch {
    return `no such hook: ${file}`;
  }
  if (!st.isFile()) return `${file} is not a regular file`;
  if (!(st.mode & 0o111)) return `${file} is not executable`;
  if (st.mode & 0o022) return `${file} is writable by others than its owner; refusing to run it`;
  const me = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) return `${file} is owned by uid ${st.uid}, not by root; refusing to run it`;
  return whyUnsafeFolder(dirname(file), me);
}

/** A safe file in a folder someone else may write is not safe: they rename it away and put
 * their own in its place between this check and the run (it then runs as root). So the
 * folders too, from / down (after symlinks: what they point to is what counts), must be
 * owned by root or trail's user and writable by no one else, unless sticky (as /tmp: no one
 * may rename what another owns there). */
async function whyUnsafeFolder(dir: string, me: number): Promise<string | undefined> {
  let real: string;
  try {
    real = await fsp.realpath(dir);
  } catch (err) {
    return `cannot resolve the hooks folder ${dir}: ${(err as Error).message}`;
  }
  for (let d = real; ; d = dirname(d)) {
    const st = await fsp.stat(d);
    if (st.uid !== 0 && st.uid !== me)
      return `hooks folder ${d} is owned by uid ${st.uid}, not by root; refusing to run its hooks`;
    if (st.mode & 0o022 && !(st.mode & 0o1000))
      return `hooks folder ${d} is writable by others than its owner (mode ${(st.mode & 0o7777).toString(8)}); refusing to run its hooks`;
    if (d === dirname(d)) return undefined;
  }
}
