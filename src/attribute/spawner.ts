import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunOptions, type RunResult } from '../util/exec.js';

export type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/** A word for sh: single-quoted, with each ' as '\'' — no byte inside has a meaning then. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The programs trail watch starts for each window (auditctl -s, getfattr) started by one
 * long-lived sh instead of by the daemon itself: Node forks the whole daemon for each child
 * and waits until it has exec'd, on the event loop (measured ~5–10 ms per program at 50k
 * files, more under load); the shell is small and forks in well under a millisecond.
 *
 * Commands go to the shell's stdin with every word quoted, one at a time; each one's output is
 * followed by a line with a random marker and its exit code. Its stderr is not kept: an exit
 * code the caller does not accept, a shell that is gone, or options the shell cannot give
 * (input, descriptors, another environment) run the program directly instead, as before —
 * the error then says what went wrong.
 */
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
    this.sh = undefined;
  }

  private async runHere(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const words = [cmd, ...args].map(shellQuote).join(' ');
    const line = opts.cwd ? `(cd -- ${shellQuote(opts.cwd)} && exec ${words})` : words;
    const got = await this.ask(`${line} </dev/null 2>/dev/null; printf '${this.mark.replace('\n', '\\n').replace('\x1e', '\\036')}%d\\n' $?\n`);
    if (!got || !(opts.okCodes ?? [0]).includes(got.code)) return run(cmd, args, opts);
    return { stdout: got.stdout, stderr: '', code: got.code };
  }

  private ask(text: string): Promise<{ stdout: Buffer; code: number } | undefined> {
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
      sh.stdin!.write(text);
    });
  }

  private shell(): ChildProcess | undefined {
    if (this.sh) return this.sh;
    let sh: ChildProcess;
    try {
      sh = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'ignore'] });
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
    sh.stdout!.on('data', (d: Buffer) => this.onData(d));
    // Never what keeps the daemon running.
    sh.unref();
    (sh.stdin as unknown as { unref?: () => void }).unref?.();
    (sh.stdout as unknown as { unref?: () => void }).unref?.();
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
