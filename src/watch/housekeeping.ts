import { runInNewContext } from 'node:vm';
import { Refs } from '../record/repo/repo.js';
import { flushCache } from '../record/model/stat-cache.js';
import type { Job, WatchContext } from './job.js';

/** Quiet this long after a commit: write index.json and collect the garbage. */
export const IDLE_FLUSH_MS = 5000;

/** How long until housekeeping is due: once commits were made since the last run and none for
 * IDLE_FLUSH_MS — never in the middle of a burst, never for a daemon that made no commit
 * (undefined: nothing to do; 0: now). */
export function housekeepingDueIn(s: { dirty: boolean; lastCommitAt: number }, now: number): number | undefined {
  if (!s.dirty) return undefined;
  return Math.max(0, IDLE_FLUSH_MS - (now - s.lastCommitAt));
}

/**
 * A full garbage collection now, when the daemon has gone quiet (after the start-up
 * reconcile, after the idle flush that follows a run of commits): V8 otherwise keeps the heap
 * the start-up scan or a burst grew to, for a process that then idles for days (measured at
 * 50k files: ~160 MB resident 2 s after start, ~237 MB after a burst). A pause of a few tens
 * of ms while nothing waits; trail watch only (it sets --expose-gc at start, daemon.ts).
 */
export function compactHeap(): void {
  try {
    (runInNewContext('gc') as () => void)();
  } catch {
    /* only memory */
  }
}

/**
 * Memory and disk housekeeping of one watcher: once quiet after commits, the stat cache goes
 * to disk (index.json, so that CLI commands find it fresh) and the heap is compacted.
 */
export class Housekeeping implements Job {
  readonly name = 'housekeeping';
  private timer: NodeJS.Timeout | undefined;
  private readonly state = { dirty: false, lastCommitAt: 0 };

  constructor(private readonly ctx: WatchContext) {}

  start(): void {}

  stop(): void {
    clearTimeout(this.timer);
  }

  onCommit(): void {
    this.state.dirty = true;
    this.state.lastCommitAt = Date.now();
    this.arm(IDLE_FLUSH_MS);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const wait = housekeepingDueIn(this.state, Date.now());
      if (wait === 0) void this.ctx.serial(() => this.flush());
      else if (wait !== undefined) this.arm(wait);
    }, ms);
  }

  /** Now (also the last thing a stopping watcher writes). */
  async flush(): Promise<void> {
    this.state.dirty = false;
    const { ctx } = this;
    try {
      await ctx.withLock(ctx.repo, 'watch', async () => flushCache(ctx.repo, await ctx.repo.readRef(Refs.observed)));
    } catch (err) {
      ctx.log('warning', 'cache', `could not write the stat cache: ${(err as Error).message}`);
    }
    compactHeap();
  }
}
