import { auditState } from '../attribute/audit-state.js';
import { writeCheckpoint, type CheckpointResult } from '../record/checkpoint/checkpoint-writer.js';
import { asNumber, type Config } from '../record/repo/settings.js';
import { backgroundTimers, type Timers } from '../util/timers.js';
import type { Job, WatchContext } from './job.js';

/** How often a heartbeat is written, from remote.checkpointSeconds (default 300). */
export function checkpointSeconds(config: Config): number {
  return asNumber(config['remote.checkpointSeconds'], 300);
}

/**
 * Signed heartbeats on refs/heads/checkpoints (README "Formats"): one at start — which the
 * writer turns into `start-after-crash`, naming the unwatched window, when the last one was
 * not a clean stop — one every remote.checkpointSeconds, and one at a clean stop, written
 * after the watcher's last commit so that it names the final heads. Silence between two of
 * them is what an outside witness turns into an alarm; the checkpoint itself only has to be
 * written, under the writer lock and through the write queue like every other commit.
 */
export class Checkpointer implements Job {
  readonly name = 'checkpointer';
  private timer: unknown;
  /** When the last start or heartbeat checkpoint was done with (now()): the next heartbeat is
   * due an interval after it. Undefined while one is being written (its end schedules the next). */
  private lastDone: number | undefined;
  private readonly daemonStart = new Date();
  /** The feed's count of audit configuration changes in the last checkpoint written. */
  private configReported = 0;
  /** The feed's counts of attribution losses in the last checkpoint written. */
  private lossesReported = { loginRewrites: 0, auditdRestarts: 0 };

  constructor(
    private readonly ctx: WatchContext,
    private readonly o: {
      /** The serial of the last audit record the daemon handled (null: no audit feed). */
      lastSerial: () => number | null;
      /** The feed's audit configuration changes from login sessions (null: no audit feed). */
      configChanges?: (since: number) => { count: number; logins: string[] } | null;
      /** The feed's login uid rewrites and auditd restarts that dropped records, since it
       * started (null: no audit feed). */
      attributionLosses?: () => { loginRewrites: number; auditdRestarts: number } | null;
      /** A checkpoint was written (the publisher pushes it). */
      written?: (r: CheckpointResult) => void;
      /** A monotonic clock in ms (default performance.now) and the heartbeat timer's
       * setTimeout/clearTimeout: injectable so that tests drive them instead of sleeping. */
      now?: () => number;
      timers?: Timers;
    },
  ) {}

  private now(): number {
    return this.o.now ? this.o.now() : performance.now();
  }

  private get timers(): Timers {
    return this.o.timers ?? backgroundTimers;
  }

  async start(): Promise<void> {
    await this.write('start');
    this.lastDone = this.now();
    this.schedule();
  }

  stop(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** remote.checkpointSeconds may have changed: the next heartbeat is due that long after the
   * last checkpoint — at once if that is past — not a whole interval from now (settings applied
   * more often than the interval would otherwise stop the heartbeats). While a checkpoint is
   * being written, its end schedules the next one with the new interval. */
  reload(): void {
    if (this.lastDone === undefined) return;
    this.schedule();
  }

  /** trail watch was paused (SIGSTOP, then SIGCONT): nothing watched the directory meanwhile,
   * and the events the kernel kept cannot say what was changed and changed back. Said at once,
   * as a checkpoint with the window since the last one, as after a crash: a rogue root who
   * pauses the daemon, edits and reverts, then lets it go on, leaves that trace off the host. */
  async paused(): Promise<void> {
    await this.write('start-after-crash');
    this.lastDone = this.now();
    this.schedule();
  }

  /** The `stop` checkpoint: called by the watcher once its last commit is made. */
  async finish(): Promise<void> {
    await this.write('stop');
  }

  /** Arms the timer for the next heartbeat: an interval after the last checkpoint. */
  private schedule(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ctx.stopped() || this.lastDone === undefined) return;
    const delay = Math.max(0, this.lastDone + checkpointSeconds(this.ctx.config()) * 1000 - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.lastDone = undefined;
      void this.write('heartbeat').finally(() => {
        this.lastDone = this.now();
        this.schedule();
      });
    }, delay);
  }

  private async write(reason: 'start' | 'heartbeat' | 'stop' | 'start-after-crash'): Promise<void> {
    const { repo } = this.ctx;
    try {
      // Each checkpoint reports the changes read since the last one written.
      const config = this.o.configChanges?.(this.configReported) ?? null;
      const losses = this.o.attributionLosses?.() ?? null;
      const was = this.lossesReported;
      const audit = await auditState(
        this.o.lastSerial(),
        config && { changes: config.count - this.configReported, logins: config.logins },
        losses && {
          loginRewrites: losses.loginRewrites - was.loginRewrites,
          auditdRestarts: losses.auditdRestarts - was.auditdRestarts,
        },
      );
      const r = await this.ctx.serial(() =>
        this.ctx.withLock(repo, 'checkpoint', () =>
          writeCheckpoint(repo, {
            reason,
            audit,
            daemonStart: this.daemonStart,
            interval: checkpointSeconds(this.ctx.config()),
          }),
        ),
      );
      const { seq, reason: written, window } = r.record;
      const level = written === 'start-after-crash' ? 'warning' : written === 'heartbeat' ? 'debug' : 'info';
      const what = window
        ? `; not watched from ${window.from} to ${window.to}${window.bootChanged ? ' (the host rebooted)' : ''}`
        : '';
      this.ctx.log(level, 'checkpoint', `checkpoint ${seq}: ${written}${what}`, { seq, reason: written, window });
      if (config) this.configReported = config.count; // written: those are reported
      if (losses) this.lossesReported = losses;
      this.o.written?.(r);
    } catch (err) {
      this.ctx.log('error', 'checkpoint-failed', `could not write the ${reason} checkpoint: ${(err as Error).message}`);
    }
  }
}
