import type { ScanResult } from '../record/index.js';
import type { Actor } from '../record/commit/commit.js';
import { asNumber, type Config } from '../record/repo/settings.js';
import { Refs } from '../record/repo/repo.js';
import { record } from '../record/snapshot.js';
import { subjectOf } from './commit-subject.js';
import { RECONCILE_RETRY_MS } from './retry-policy.js';
import { realTimers, type Timers } from '../util/timers.js';
import type { CommitMade, Job, WatchContext } from './job.js';

const UNKNOWN: Actor = { name: 'unknown' };
const UNKNOWN_TRAILER = { 'Trail-Actor': 'unknown (seen by trail watch)' };
/** Without events (watch limit reached) the full reconcile is all there is: run it often. */
export const DEGRADED_RECONCILE_S = 60;

/** How often the whole directory is compared with the trail: watch.reconcileSeconds, and at
 * least every minute while there is no event source. */
export function reconcileSeconds(config: Config, degraded: boolean): number {
  const s = asNumber(config['watch.reconcileSeconds'], 3600);
  return degraded ? Math.min(s, DEGRADED_RECONCILE_S) : s;
}

/** What a periodic reconcile says it is for. */
export function periodicReason(degraded: boolean): string {
  return degraded ? 'no event source' : 'periodic';
}

/** What a reconcile that found something logs: expected without events, a warning with them
 * (events should have reported it). */
export function foundLevel(degraded: boolean): 'info' | 'warning' {
  return degraded ? 'info' : 'warning';
}

export interface ReconcilerDeps {
  /** true while there is no event source (watch limit). */
  degraded(): boolean;
  /** What events reported so far is committed first, as such (EventWindow.commitPending). */
  commitPending(): Promise<void>;
  onCommit(c: CommitMade): void;
  /** What each whole scan saw (its files linked from outside the tree). */
  onScan?(scan: ScanResult): void;
  /** A monotonic clock in ms (default performance.now) and the periodic timer's
   * setTimeout/clearTimeout: injectable so that tests drive them instead of sleeping. */
  now?: () => number;
  timers?: Timers;
}

/**
 * Compares the whole watched directory with the trail: once at start (what changed while no
 * watcher ran: "changed while not watching"), then every reconcileSeconds (what events
 * missed), and at once when a source lost events or was replaced. One queued at a time.
 */
export class Reconciler implements Job {
  readonly name = 'reconciler';
  private timer: unknown;
  /** When the current interval started (now(): start, the last periodic request, or a reload
   * that found a full reconcile under way). A reload re-arms relative to it, so that settings
   * applied more often than the interval neither postpone nor skip the periodic reconcile. */
  private intervalStart: number | undefined;
  private queued = false;
  private running = false;
  /** A full look was asked for (events were lost) and has not yet run through: until then
   * the events do not name every change. */
  private due = false;

  constructor(
    private readonly ctx: WatchContext,
    private readonly deps: ReconcilerDeps,
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : performance.now();
  }

  private get timers(): Timers {
    return this.deps.timers ?? realTimers;
  }

  start(): void {
    this.intervalStart = this.now();
    this.schedule();
  }

  stop(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The interval may have changed (settings, or the source lost): the next periodic reconcile
   * is due an interval (the new one) after the current one started — at once if that is past —
   * not a whole interval from now. A full reconcile queued or running counts as the last one
   * (the source lost asks for one, then reloads: the next is an interval after it). */
  reload(): void {
    if (this.queued || this.running) this.intervalStart = this.now();
    this.schedule();
  }

  /** Whether a full reconcile is owed: events were lost, and no reconcile has yet succeeded. */
  owed(): boolean {
    // One queued runs before anything queued after it (a command's question) is answered.
    return this.due && !this.queued;
  }

  everySeconds(): number {
    return reconcileSeconds(this.ctx.config(), this.deps.degraded());
  }

  /** A full reconcile as soon as the write queue allows; one waiting at most. */
  request(why: string): void {
    if (this.ctx.stopped()) return;
    this.due = true;
    if (this.queued) return;
    this.queued = true;
    void this.ctx.serial(async () => {
      this.queued = false;
      this.running = true;
      try {
        await this.reconcile(why);
      } finally {
        this.running = false;
      }
    });
  }

  /** The start-up reconcile: what changed since the trail's last commit, while no watcher ran. */
  async catchUp(): Promise<void> {
    const { ctx } = this;
    const head = await ctx.repo.readRef(Refs.observed);
    const since = head ? (await ctx.repo.git(['log', '-1', '--format=%cI', head])).stdout.toString().trim() : undefined;
    const until = new Date().toISOString();
    const span = since ? `between ${since} and ${until}` : `before ${until}`;
    const res = await ctx.withLock(ctx.repo, 'watch', () =>
      record(ctx.repo, {
        subject: (c) => `changed while not watching: ${subjectOf(c)}`,
        actor: UNKNOWN,
        action: 'watch-gap',
        body: [
          `trail watch found these changes when it started: they were made ${span}, while no watcher was running, by someone unknown.`,
        ],
        trailers: { ...UNKNOWN_TRAILER, 'Trail-Unwatched-Since': since, 'Trail-Unwatched-Until': until },
      }),
    );
    this.deps.onScan?.(res.scan);
    if (res.commit) {
      ctx.log(
        'notice',
        'gap',
        `${res.changes.length} change(s) made while not watching (${span}) recorded as ${res.commit.slice(0, 12)}`,
        { commit: res.commit, changes: res.changes.length, since, until },
      );
      this.deps.onCommit({ commit: res.commit, changes: res.changes.length, action: 'watch-gap' });
    }
  }

  /** Arms the timer for the end of the interval that started at intervalStart. */
  private schedule(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ctx.stopped()) return;
    const start = (this.intervalStart ??= this.now()); // a reload before start(): from now
    const delay = Math.max(0, start + this.everySeconds() * 1000 - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.intervalStart = this.now();
      this.request(periodicReason(this.deps.degraded()));
      this.schedule();
    }, delay);
  }

  private async reconcile(why: string): Promise<void> {
    const { ctx } = this;
    if (ctx.stopped()) return;
    await this.deps.commitPending();
    const t0 = Date.now();
    // What happens from here on is seen by this reconcile or reported by events.
    const wasDue = this.due;
    this.due = false;
    try {
      const res = await ctx.withLock(ctx.repo, 'watch', () =>
        record(ctx.repo, {
          subject: (c) => `found by a full reconcile: ${subjectOf(c)}`,
          actor: UNKNOWN,
          action: 'watch-reconcile',
          body: [
            `trail watch compared the whole directory with the trail (${why}) and found changes no event had reported.`,
          ],
          trailers: UNKNOWN_TRAILER,
        }),
      );
      this.deps.onScan?.(res.scan);
      const fields = { why, ms: Date.now() - t0, changes: res.changes.length, commit: res.commit };
      if (res.commit) {
        ctx.log(
          foundLevel(this.deps.degraded()),
          'reconcile',
          `full reconcile (${why}) found ${res.changes.length} change(s) no event reported: ${res.commit.slice(0, 12)}`,
          fields,
        );
        this.deps.onCommit({ commit: res.commit, changes: res.changes.length, action: 'watch-reconcile' });
      } else ctx.log('info', 'reconcile', `full reconcile (${why}): nothing missed (${Date.now() - t0} ms)`, fields);
    } catch (err) {
      this.due ||= wasDue;
      ctx.log(
        'error',
        'reconcile-failed',
        `full reconcile (${why}) failed: ${(err as Error).message}; trying again in ${RECONCILE_RETRY_MS / 1000} s`,
      );
      setTimeout(() => this.request(why), RECONCILE_RETRY_MS).unref();
    }
  }
}
