import { pidAlive } from '../util/pid.js';
import type { Job, WatchContext } from './job.js';

/** How often the writers are looked at, and every how many looks a path whose writer still
 * lives is looked at again. */
const TICK_MS = 1000;
const AGAIN_EVERY = 5;
/** Paths followed at once: an apt upgrade opens thousands, and each writer ends soon. */
const MAX_PATHS = 10_000;

/**
 * Writes that inotify never reports: through a shared writable mapping (mmap), a file
 * changes without a single event, not even on the file itself (measured), for as long as a
 * process holds the mapping, after its descriptor is closed too. Audit does see the file
 * opened for writing (trail's `-w DIR -p wa` rule). From then until that process is gone the
 * path is not as events say: it stays among the paths a status the watcher answers looks at,
 * it is looked at again every few seconds while its writer lives, and once more when it is
 * gone. Without audit a reconcile finds such a write (watch.reconcileSeconds).
 */
export class OpenWriters implements Job {
  readonly name = 'open-writers';
  private readonly writers = new Map<string, Set<number>>();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private full = false;

  constructor(
    private readonly ctx: WatchContext,
    /** Where a path to look at again goes (the event window). */
    private readonly touched: (paths: string[]) => void,
    private readonly alive: (pid: number) => boolean = pidAlive,
  ) {}

  start(): void {}

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.writers.clear();
  }

  /** `pid` opened `path` for writing. */
  opened(path: string, pid: number): void {
    if (this.ctx.stopped()) return;
    let pids = this.writers.get(path);
    if (!pids) {
      if (this.writers.size >= MAX_PATHS) {
        if (!this.full)
          this.ctx.log(
            'warning',
            'open-writers',
            `more than ${MAX_PATHS} files open for writing at once: the next reconcile looks at the rest`,
          );
        this.full = true;
        return;
      }
      this.writers.set(path, (pids = new Set()));
    }
    pids.add(pid);
    this.timer ??= setInterval(() => this.tick(), TICK_MS).unref();
  }

  /** The paths whose writers still live: not to be taken as events say. */
  paths(): string[] {
    return [...this.writers.keys()];
  }

  /** Drops the writers that are gone; their paths, and every AGAIN_EVERY ticks those of the
   * living ones, are looked at. */
  tick(): void {
    this.ticks++;
    const look: string[] = [];
    for (const [path, pids] of this.writers) {
      for (const pid of pids) if (!this.alive(pid)) pids.delete(pid);
      if (!pids.size) {
        this.writers.delete(path);
        look.push(path);
      } else if (this.ticks % AGAIN_EVERY === 0) look.push(path);
    }
    if (!this.writers.size) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.full = false;
    }
    if (look.length && !this.ctx.stopped()) this.touched(look);
  }
}
