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
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.stdin!.on('error', () => {});
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
            // A grandchild (git's remote helper) may still hold the pipes open: 'close' would
            // wait for it, so the pipes are let go once the child itself is gone.
            const letGo = () => {
              child.stdout?.destroy();
              child.stderr?.destroy();
            };
            if (child.exitCode !== null || child.signalCode !== null) letGo();
            else child.once('exit', letGo);
          }, opts.timeoutMs)
        : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const res = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 };
      if (timedOut) {
        res.stderr += `\ntimed out after ${Math.round(opts.timeoutMs! / 1000)} s`;
        res.code = -1;
      }
      if ((opts.okCodes ?? [0]).includes(res.code)) resolve(res);
      else reject(new ExecError(cmd, argv, res));
    });
    child.stdin!.end(opts.input ?? '');
  });
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
