/**
 * Gathers the paths events name until the directory is quiet (`quietMs` without an event),
 * but never longer than `maxDelayMs` after the first one, so that a file written all the time
 * is still recorded. A file still being written is thus committed once it holds still; what
 * was half-written at a max-delay flush is committed again, whole, at the next one.
 */
export interface Batch {
  paths: Set<string>;
  /** When the first event of the batch arrived (ms since the epoch). */
  firstSeen: number;
}

export class Debouncer {
  private batch: Batch | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private quietMs: number,
    private maxDelayMs: number,
    private readonly flush: (batch: Batch) => void,
  ) {}

  setTimes(quietMs: number, maxDelayMs: number): void {
    this.quietMs = quietMs;
    this.maxDelayMs = maxDelayMs;
  }

  add(paths: Iterable<string>, firstSeen = Date.now()): void {
    if (!this.batch) {
      this.batch = { paths: new Set(), firstSeen };
      this.maxTimer = setTimeout(() => this.fire(), this.maxDelayMs);
    }
    this.batch.firstSeen = Math.min(this.batch.firstSeen, firstSeen);
    for (const p of paths) this.batch.paths.add(p);
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.fire(), this.quietMs);
  }

  /** What is pending now, left pending (a command asked the watcher). */
  peek(): ReadonlySet<string> | undefined {
    return this.batch?.paths;
  }

  /** Hands out what is pending now, without waiting (shutdown, a reconcile). */
  take(): Batch | undefined {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    const b = this.batch;
    this.batch = undefined;
    return b;
  }

  private fire(): void {
    const b = this.take();
    if (b) this.flush(b);
  }
}
