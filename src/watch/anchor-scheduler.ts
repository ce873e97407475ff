import { asNumber, type Config } from '../record/repo/settings.js';
import { Refs } from '../record/repo/repo.js';
import { anchorOptionsFromConfig } from '../anchor/options.js';
import { runAnchorJob, type AnchorJob, type AnchorJobResult } from '../anchor/anchor-job.js';
import { ANCHOR_RETRY_MS } from './retry-policy.js';
import type { Job, WatchContext } from './job.js';

export const UPGRADE_EVERY_MS = 3600_000;
export const HEARTBEAT_EVERY_MS = 3600_000;

/** What the scheduler knows between ticks. wanted: commits were made since the last stamp
 * attempt (or the daemon just started); retryAt: when queued commits are due again (0: none);
 * upgradeAt: when pending proofs are asked about (Infinity: none pending). */
export interface AnchorSchedule {
  wanted: boolean;
  retryAt: number;
  upgradeAt: number;
  lastHeartbeat: number;
}

export const initialSchedule = (): AnchorSchedule => ({ wanted: true, retryAt: 0, upgradeAt: 0, lastHeartbeat: 0 });

/** How often the scheduler looks: the batch window, at most a minute. */
export function tickMs(config: Config): number {
  return Math.min(asNumber(config['anchor.batchSeconds'], 300), 60) * 1000;
}

/** The job due now, if any: a stamp when commits were made or queued ones are due again, an
 * upgrade when pending proofs are due. undefined: start nothing (an idle daemon asks nobody). */
export function jobDue(s: AnchorSchedule, now: number): AnchorJob | undefined {
  const job = { stamp: s.wanted || (s.retryAt > 0 && now >= s.retryAt), upgrade: now >= s.upgradeAt };
  return job.stamp || job.upgrade ? job : undefined;
}

/** The schedule after a job ran at `now` with result `r`; `s` is the schedule as it is now
 * (a commit made while the job ran has set `wanted` again, and that stays). */
export function afterJob(
  s: AnchorSchedule,
  job: AnchorJob,
  r: AnchorJobResult,
  now: number,
  batchSeconds: number,
): AnchorSchedule {
  const next = { ...s };
  if (r.error && job.stamp) next.retryAt = now + ANCHOR_RETRY_MS;
  if (r.stamp) {
    if (r.stamp.outcome === 'stamped') next.upgradeAt = Math.min(next.upgradeAt, now + UPGRADE_EVERY_MS);
    next.retryAt = r.stamp.queued > 0 ? (r.stamp.nextAttemptAt ?? now + batchSeconds * 1000) : 0;
  }
  if (r.upgrade) next.upgradeAt = r.upgrade.pending > 0 ? now + UPGRADE_EVERY_MS : Infinity;
  else if (job.upgrade) next.upgradeAt = now + UPGRADE_EVERY_MS;
  return next;
}

export function heartbeatDue(s: AnchorSchedule, now: number): boolean {
  return now - s.lastHeartbeat > HEARTBEAT_EVERY_MS;
}

/**
 * Anchoring runs beside recording, never in its way, and in a process of its own
 * (src/anchor/anchor-job.ts) only when there is something to do: new commits are stamped
 * once their batch window closes (stampBatch knows when, and backs off from failing
 * calendars), pending proofs are upgraded hourly while there are any. An hourly heartbeat
 * naming the trail's heads goes to syslog — a witness outside the repository, so that a
 * root who resets a ref and deletes the newer proofs leaves a contradiction in the logs.
 * An idle daemon with nothing queued starts nothing.
 */
export class AnchorScheduler implements Job {
  readonly name = 'anchor-scheduler';
  private schedule = initialSchedule();
  private timer: NodeJS.Timeout | undefined;
  /** Ends a running anchoring process when the watcher stops. */
  private readonly abort = new AbortController();

  constructor(private readonly ctx: WatchContext) {}

  start(): void {
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.abort.abort();
  }

  onCommit(): void {
    this.schedule.wanted = true;
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.ctx.stopped()) return;
    this.timer = setTimeout(() => {
      this.tick()
        .catch((err: unknown) => this.ctx.log('warning', 'anchor-failed', `anchoring: ${(err as Error).message}`))
        .finally(() => this.arm());
    }, tickMs(this.ctx.config()));
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    const { ctx } = this;
    const now = Date.now();
    const job = jobDue(this.schedule, now);
    if (job) {
      this.schedule.wanted = false;
      const opts = anchorOptionsFromConfig(ctx.config());
      const r = await runAnchorJob(ctx.repo.gitDir, opts, job, this.abort.signal);
      if (ctx.stopped()) return;
      this.report(r);
      this.schedule = afterJob(this.schedule, job, r, now, opts.batchSeconds);
    }
    if (heartbeatDue(this.schedule, now)) {
      this.schedule.lastHeartbeat = now;
      await this.heartbeat();
    }
  }

  private report(r: AnchorJobResult): void {
    const { ctx } = this;
    if (r.error)
      ctx.log('warning', 'anchor-failed', `anchoring: ${r.error}; trying again in ${ANCHOR_RETRY_MS / 60_000} min`);
    if (r.stamp?.outcome === 'stamped')
      ctx.log('info', 'stamped', `${r.stamp.stamped} commit(s) stamped with OpenTimestamps`, {
        commits: r.stamp.stamped,
      });
    else if (r.stamp?.outcome === 'too-few-calendars')
      ctx.log(
        'warning',
        'stamp-deferred',
        `anchoring: too few calendars answered (${r.stamp.failed.map((c) => `${c.url}: ${c.error}`).join('; ')}); ${r.stamp.queued} commit(s) stay queued`,
      );
  }

  private async heartbeat(): Promise<void> {
    const { ctx } = this;
    const [observed, approved] = await Promise.all([
      ctx.repo.readRef(Refs.observed),
      ctx.repo.readRef(Refs.approved),
    ]).catch(() => [undefined, undefined]);
    ctx.log(
      'notice',
      'heartbeat',
      `heartbeat ${ctx.watched.name}: observed ${observed ?? '-'} approved ${approved ?? '-'}`,
      {
        observed,
        approved,
      },
    );
  }
}
