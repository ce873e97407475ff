import { spawn } from 'node:child_process';

export interface RunOptions {
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that are not failures (default: only 0). */
  okCodes?: number[];
  /** Open file descriptors handed to the child as fd 3, 4, …: the way to name a file whose
   * path is not UTF-8 (/dev/fd/3), since execve arguments from Node are always UTF-8. */
  fds?: number[];
  /** Kill the child (SIGKILL) when it has not ended after this long: a network peer that
   * stops answering must not hold a caller for ever. The run then fails (exit -1) with
   * "timed out" in its stderr. */
  timeoutMs?: number;
  /** Ends the run early (a daemon that stops or reloads must not wait for a remote that
   * hangs): the run fails (exit -1) with "aborted" and the signal's reason in its stderr. The
   * child then runs in its own process group, and the whole group is killed, on abort and on
   * timeout alike: git's remote helper (curl) would otherwise live on, hung on the network,
   * after git itself is gone. Only with a signal, because a process group of its own takes
   * the child out of the terminal's: a Ctrl-C on a CLI command would no longer reach it. */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** Runs a program with an argument array — never through a shell — and collects its output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const argv = [...args];
    const child = spawn(cmd, argv, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe', ...(opts.fds ?? [])],
      detached: opts.signal !== undefined,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.stdin!.on('error', () => {});
    let ended: 'timed out' | 'aborted' | undefined;
    const group = opts.signal !== undefined;
    const kill = (why: 'timed out' | 'aborted') => {
      if (ended) return;
      ended = why;
      // The group's id is the child's pid (detached: setsid), and it lives on while any member
      // does, so the id names no other process until the last of them is gone.
      if (group && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      } else child.kill('SIGKILL');
      // A grandchild (git's remote helper) may still hold the pipes open: 'close' would
      // wait for it, so the pipes are let go once the child itself is gone.
      const letGo = () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      };
      if (child.exitCode !== null || child.signalCode !== null) letGo();
      else child.once('exit', letGo);
    };
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => kill('timed out'), opts.timeoutMs) : undefined;
    const onAbort = () => kill('aborted');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (code) => {
      done();
      const res = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 };
      if (ended === 'timed out') {
        res.stderr += `\ntimed out after ${Math.round(opts.timeoutMs! / 1000)} s`;
        res.code = -1;
      } else if (ended === 'aborted') {
        res.stderr += `\naborted: ${abortWhy(opts.signal!)}`;
        res.code = -1;
      }
      if ((opts.okCodes ?? [0]).includes(res.code)) resolve(res);
      else reject(new ExecError(cmd, argv, res));
    });
    child.stdin!.end(opts.input ?? '');
  });
}

function abortWhy(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  return r instanceof Error ? r.message : String(r);
}

export class ExecError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: RunResult,
  ) {
    super(
      `${cmd} ${args[0] ?? ''} failed (exit ${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
    );
    this.name = 'ExecError';
  }
}
