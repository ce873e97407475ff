import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/**
 * A long-running `git update-ref --stdin` that moves refs in transactions (start, update with
 * the expected old value, commit), so that the daemon does not start a git process for each
 * commit, while git itself still does the locking, the compare-and-swap and the reflog.
 * The reflog message is fixed per process (`-m`), hence one process per message.
 */
export class RefUpdater {
  private child: ChildProcessWithoutNullStreams | undefined;
  private out = '';
  private err = '';
  private pending: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly gitDir: string,
    private readonly reason: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Moves `ref` to `oid` if it still points at `old` (undefined: must not exist yet). */
  update(ref: string, oid: string, old: string | undefined): Promise<void> {
    const p = this.chain.then(() => this.transact(`start\nupdate ${ref} ${oid} ${old ?? '0'.repeat(40)}\ncommit\n`));
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private transact(lines: string): Promise<void> {
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      hold(child, true);
      child.stdin.write(lines);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['--git-dir', this.gitDir, 'update-ref', '-m', this.reason, '--stdin'], {
      env: this.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.out = this.err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      if (/^commit: ok$/m.test(this.out)) {
        this.out = '';
        const p = this.pending;
        this.pending = undefined;
        hold(child, false);
        p?.resolve();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    const fail = (why: string) => {
      if (this.child === child) this.child = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(`git update-ref failed: ${why}`));
    };
    child.on('error', (e) => fail(e.message));
    // A refused update (the ref moved meanwhile, a lock held) ends the process with a fatal.
    child.on('close', (code) => fail(this.err.trim() || `exit ${code}`));
    hold(child, false);
    this.child = child;
    return child;
  }
}

/** An idle updater must not keep the daemon's process alive; one with an answer due must,
 * through to the exit of a git that refused the update. */
function hold(child: ChildProcessWithoutNullStreams, on: boolean): void {
  for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[]) {
    if (on) h.ref();
    else h.unref();
  }
}
