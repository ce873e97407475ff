import { deliverDue, queuedAlerts } from '../act/alert-outbox.js';
import type { Job, WatchContext } from './job.js';

/**
 * Sends the webhook alerts the policy queues (act/alert-outbox.ts) from trail watch's own
 * timer, outside the lock under which a commit's policy acts: a receiver that is down holds
 * up neither recording nor `trail snapshot`. Sends a new one at once (after the older ones to
 * its receiver, first in first out), and those that failed again when the next try of the
 * oldest to their receiver is due; what waits at a stop is sent after the next start. The
 * RepoWatcher tells the policy's alert path to leave sending to it (deliverInBackground).
 */
export class AlertSender implements Job {
  readonly name = 'alert-sender';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;

  constructor(private readonly ctx: WatchContext) {}

  start(): void {
    this.soon(0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A new alert was queued: send it now. */
  poke(): void {
    this.soon(0);
  }

  private soon(ms: number): void {
    if (this.ctx.stopped()) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.send(), ms);
    this.timer.unref();
  }

  private async send(): Promise<void> {
    if (this.running) {
      this.again = true; // a new one came while this round ran
      return;
    }
    this.running = true;
    let next: number | undefined;
    try {
      const results = await deliverDue(this.ctx.repo);
      const waiting = await queuedAlerts(this.ctx.repo);
      for (const [id, d] of results) {
        if (d.ok) this.ctx.log('info', 'alert-sent', `webhook alert ${id} delivered (${d.status})`, { id });
        else if (d.waitsBehind === undefined) {
          // One line a try: those left behind it are counted, not each said.
          const a = waiting.find((w) => w.id === id);
          const behind = [...results.values()].filter((r) => r.waitsBehind === id).length;
          const when = a
            ? ` (try ${a.attempts}; next in ${Math.round((a.nextAt - Date.now()) / 1000)} s` +
              (behind ? `; ${behind} more wait behind it)` : ')')
            : '';
          this.ctx.log('warning', 'alert-waiting', `webhook alert ${id} not delivered: ${d.problem}${when}`, {
            id,
            problem: d.problem,
          });
        }
      }
      // Those behind one that failed have its next try (deliverDue): the soonest is when the
      // oldest alert to some receiver is due again.
      if (waiting.length) next = Math.max(0, Math.min(...waiting.map((w) => w.nextAt)) - Date.now());
    } catch (err) {
      this.ctx.log('error', 'alert-failed', `could not send the queued alerts: ${(err as Error).message}`);
      next = 60_000;
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      next = 0;
    }
    if (next !== undefined) this.soon(next);
  }
}
