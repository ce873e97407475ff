import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunOptions, type RunResult } from '../util/exec.js';

export type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/**
 * The programs trail watch starts for each window (auditctl -s, getfattr) started by one
 * long-lived sh instead of by the daemon itself: Node forks the whole daemon for each child
 * and waits until it has exec'd, on the event loop (measured ~5–10 ms per program at 50k
 * files, more under load); the shell is small and forks in well under a millisecond.
 *
 * No argument ever becomes shell text (the house rule for anything built from paths): the
 * shell only ever reads one fixed line, `head -c N | xargs -0 … env`, where N is a byte count;
 * N bytes on a pipe of their own (fd 3) are the program, its arguments and its working
 * folder, each ended by a NUL, which `head` hands to `xargs -0` and xargs to env(1) as an
 * argument array. Each program's output is followed by a line with a random marker and the exit
 * code. Its stderr is not kept: an exit code the caller does not accept (xargs reports a
 * program's failure as 123), a shell that is gone, or options the shell cannot give (input,
 * descriptors, another environment) run the program directly instead, as before — the error
 * then says what went wrong.
 */
/** Bytes of one program's arguments through xargs (well under Linux's 2 MB for arguments
 * and environment together); more, and the program runs directly. */
const XARGS_MAX = 1 << 20;

export class Spawner {
  private sh: ChildProcess | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private out: Buffer[] = [];
  private waiting: ((r: { stdout: Buffer; code: number } | undefined) => void) | undefined;
  private readonly mark = `\n\x1e${randomBytes(12).toString('hex')} `;
  private closed = false;

  readonly run: Runner = (cmd, args, opts = {}) => {
    if (this.closed || opts.input !== undefined || opts.fds?.length || opts.env) return run(cmd, args, opts);
    const p = this.queue.then(() => this.runHere(cmd, args, opts));
    this.queue = p.catch(() => undefined);
    return p;
  };

  close(): void {
    this.closed = true;
    this.sh?.stdin?.end();
    (this.sh?.stdio[3] as NodeJS.WritableStream | undefined)?.end();
    this.sh = undefined;
  }

  private async runHere(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const words = [...(opts.cwd ? ['-C', opts.cwd] : []), '--', cmd, ...args];
    if (words.some((w) => w.includes('\0'))) return run(cmd, args, opts); // no such argument exists
    const data = Buffer.from(words.map((w) => `${w}\0`).join(''), 'utf8');
    if (data.length > XARGS_MAX) return run(cmd, args, opts);
    const line = `head -c ${data.length} <&3 | xargs -0 -x -s ${XARGS_MAX + 4096} env 2>/dev/null; printf '${this.mark.replace('\n', '\\n').replace('\x1e', '\\036')}%d\\n' $?\n`;
    const got = await this.ask(line, data);
    if (!got || !(opts.okCodes ?? [0]).includes(got.code)) return run(cmd, args, opts);
    return { stdout: got.stdout, stderr: '', code: got.code };
  }

  private ask(line: string, data: Buffer): Promise<{ stdout: Buffer; code: number } | undefined> {
    const sh = this.shell();
    if (!sh) return Promise.resolve(undefined);
    // Held open while an answer is awaited, and only then.
    const out = sh.stdout as unknown as { ref?: () => void; unref?: () => void };
    out.ref?.();
    return new Promise((resolve) => {
      this.waiting = (r) => {
        out.unref?.();
        resolve(r);
      };
      sh.stdin!.write(line);
      (sh.stdio[3] as NodeJS.WritableStream).write(data);
    });
  }

  private shell(): ChildProcess | undefined {
    if (this.sh) return this.sh;
    let sh: ChildProcess;
    try {
      // fd 3: the arguments, read by `head -c N <&3` only (the shell reads its commands from
      // stdin in blocks, so they cannot follow a command line there).
      sh = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'ignore', 'pipe'] });
    } catch {
      return undefined;
    }
    const gone = () => {
      if (this.sh === sh) this.sh = undefined;
      const w = this.waiting;
      this.waiting = undefined;
      this.out = [];
      w?.(undefined);
    };
    sh.on('error', gone);
    sh.on('exit', gone);
    sh.stdin!.on('error', () => undefined);
    (sh.stdio[3] as NodeJS.WritableStream).on('error', () => undefined);
    sh.stdout!.on('data', (d: Buffer) => this.onData(d));
    // Never what keeps the daemon running.
    sh.unref();
    (sh.stdin as unknown as { unref?: () => void }).unref?.();
    (sh.stdout as unknown as { unref?: () => void }).unref?.();
    (sh.stdio[3] as unknown as { unref?: () => void }).unref?.();
    this.sh = sh;
    return sh;
  }

  private onData(d: Buffer): void {
    this.out.push(d);
    const all = Buffer.concat(this.out);
    const at = all.indexOf(this.mark, 0, 'latin1');
    if (at < 0) {
      this.out = [all];
      return;
    }
    const end = all.indexOf(10, at + this.mark.length);
    if (end < 0) {
      this.out = [all];
      return;
    }
    const code = Number(all.toString('latin1', at + this.mark.length, end));
    this.out = [all.subarray(end + 1)];
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ stdout: all.subarray(0, at), code });
  }
}
