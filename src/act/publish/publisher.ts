import { backgroundTimers, type Timers } from '../../util/timers.js';
import { readPolicy } from '../../decide/store.js';
import type { Repo } from '../../record/repo/repo.js';
import { asNumber, readConfig } from '../../record/repo/settings.js';
import { hostName } from '../../util/accounts.js';
import { sendAlert } from '../alert.js';
import { readToken, remoteFrom, type ReviewRemote } from '../review/remote.js';
import { backoffDelay } from './backoff.js';
import { readTips, totalBacklog } from './backlog-counter.js';
import { loadPublishState, savePublishState, withPublishLock, type Alarm } from './publish-state.js';
import { readPublishStatus, type PublishStatus } from './publish-status.js';
import { pushRound, type PublishAlert, type PublishLog, type RoundOutcome } from './ref-pusher.js';

export interface PublisherOptions {
  /** remote.pushDelaySeconds: the longest a new commit waits; every notify within it rides
   * on the same push. */
  delaySeconds?: number;
  /** remote.alertAfterSeconds: a backlog older than this alerts once. */
  alertAfterSeconds?: number;
  /** Per git run against the remote (the push, and the ls-remote/fetch after a refusal). */
  timeoutMs?: number;
  /** Retry after a failed push: doubling from baseMs to capMs, with jitter. */
  backoff?: { baseMs?: number; capMs?: number };
  /** A refused ref (alarm, or approved waiting for review sync) is offered again this often,
   * and the refs are looked at this often even without a notify (default: backoff capMs,
   * 5 minutes). */
  recheckMs?: number;
  log?: PublishLog;
  /** Default: the trail policy's alert channels (act/alert.ts sendAlert). */
  alert?: PublishAlert;
  /** Default: GITHUB_TOKEN or review.tokenFile, read at each push (a rotated token is used). */
  token?: () => Promise<string>;
  now?: () => number;
  timers?: Timers;
  random?: () => number;
}

export interface PublisherStatus extends PublishStatus {
  /** Failed attempts in a row (remote down, timeout, refused credentials). */
  failures: number;
  /** When the next push is due, if one is scheduled. */
  nextAttempt: string | null;
  /** git push runs by this publisher since it started. */
  pushes: number;
}

/** The policy's alert channels, read when an alert goes out (the policy may change). */
export function policyAlert(repo: Repo): PublishAlert {
  return async (summary, event) => {
    await sendAlert(repo, await readPolicy(repo), `${repo.info.name}: ${summary}`, event);
  };
}

/**
 * Gets every new commit of every published ref off the host: `notify()` after a commit,
 * and within `delaySeconds` one atomic push takes everything new (many notifies, one push).
 * A remote that is down, slow or refusing never blocks the caller: notify returns at once,
 * pushes retry with backoff, and the backlog lives in git (the pushed marks), so nothing is
 * lost across restarts. One round runs at a time.
 */
export class Publisher {
  private readonly delayMs: number;
  private readonly alertAfterMs: number;
  private readonly recheckMs: number;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly log: PublishLog;
  private readonly alert: PublishAlert;
  private readonly token: () => Promise<string>;
  private timer: unknown;
  private timerAt: number | undefined;
  private alertTimer: unknown;
  private chain: Promise<unknown> = Promise.resolve();
  private busy = false;
  /** Something was committed since the current or last round read the refs. */
  private dirty = false;
  /** When the first of those commits was notified: its push is due delaySeconds later. */
  private dirtySince = 0;
  private failures = 0;
  private stopped = false;
  /** The round running now, abandoned by stop(). */
  private inFlight: AbortController | undefined;
  /** What stop() was for, said by the round it abandons. */
  private stopNote: { why: string; lastMs?: number } | undefined;
  /** Refused refs and when each is offered again. */
  private readonly held = new Map<string, number>();
  private pushes = 0;

  constructor(
    readonly repo: Repo,
    readonly remote: ReviewRemote,
    private readonly opts: PublisherOptions = {},
  ) {
    this.delayMs = Math.max(0, (opts.delaySeconds ?? 5) * 1000);
    this.alertAfterMs = (opts.alertAfterSeconds ?? 900) * 1000;
    this.recheckMs = opts.recheckMs ?? opts.backoff?.capMs ?? 300_000;
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? backgroundTimers;
    this.log = opts.log ?? (() => {});
    this.alert = opts.alert ?? policyAlert(repo);
    this.token = opts.token ?? (() => readToken(remote));
  }

  /** A publisher for this trail from its settings; undefined when no remote is set. */
  static async forRepo(repo: Repo, opts: PublisherOptions = {}): Promise<Publisher | undefined> {
    const config = await readConfig(repo);
    const remote = remoteFrom(config, repo.info.name);
    if (!remote) return undefined;
    return new Publisher(repo, remote, {
      delaySeconds: asNumber(config['remote.pushDelaySeconds'], 5),
      alertAfterSeconds: asNumber(config['remote.alertAfterSeconds'], 900),
      ...opts,
    });
  }

  /** At daemon start: whatever was left unpushed before goes up after the usual delay. */
  start(): void {
    this.notify();
  }

  /** Something was committed to a published ref. Returns at once; never throws. */
  notify(): void {
    if (this.stopped) return;
    if (!this.dirty) this.dirtySince = this.now();
    this.dirty = true;
    // A round in progress reschedules when it ends; a failing remote keeps its backoff.
    if (this.busy || this.failures > 0) return;
    this.want(this.dirtySince + this.delayMs);
  }

  /** Pushes now (also refs that stand refused), after the round in progress if any. */
  flush(): Promise<RoundOutcome> {
    return this.exclusive(() => this.round(true));
  }

  /**
   * No more pushes. The round in progress is abandoned at once (its git push killed, remote
   * helper and all): bounded only by timeoutMs (300 s), a remote that hangs would hold the
   * stop past systemd's 90 s, and the SIGKILL would cut the stop checkpoint. Nothing is lost:
   * the marks move only when a push completes (and git's --atomic lands all refs or none),
   * so the next start pushes what it carried. `flush`: then one last push (a clean stop: the
   * stop checkpoint should reach the remote), bounded as a whole by `flushTimeoutMs`
   * (default 20 s). `why` names the occasion in the log ("stop", "reload").
   */
  async stop(opts: { flush?: boolean; flushTimeoutMs?: number; why?: string } = {}): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.clearTimer();
      if (this.alertTimer !== undefined) this.timers.clearTimeout(this.alertTimer);
      this.alertTimer = undefined;
      const lastMs = opts.flush ? (opts.flushTimeoutMs ?? 20_000) : undefined;
      this.stopNote = { why: opts.why ?? 'stop', lastMs };
      this.inFlight?.abort(new Error(`abandoned at ${this.stopNote.why}`));
      if (lastMs !== undefined) await this.exclusive(() => this.round(true, lastMs)).catch(() => undefined);
    }
    await this.chain;
  }

  /** Resolves when no round is running or queued (tests; a clean stop). */
  async idle(): Promise<void> {
    for (;;) {
      const c = this.chain;
      await c;
      if (c === this.chain) return;
    }
  }

  async status(): Promise<PublisherStatus> {
    const s = await readPublishStatus(this.repo, this.remote, {
      now: this.now,
      alertAfterSeconds: this.alertAfterMs / 1000,
    });
    return {
      ...s,
      failures: this.failures,
      nextAttempt: this.timerAt === undefined ? null : new Date(this.timerAt).toISOString(),
      pushes: this.pushes,
    };
  }

  // ------------------------------------------------------------------ scheduling

  /** A push no later than `at` (an earlier one already scheduled stands). */
  private want(at: number): void {
    if (this.timer !== undefined && this.timerAt! <= at) return;
    this.schedule(Math.max(0, at - this.now()));
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timerAt = this.now() + ms;
    this.timer = this.timers.setTimeout(() => {
      this.timer = this.timerAt = undefined;
      void this.exclusive(() => this.round(false)).catch(() => undefined);
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = this.timerAt = undefined;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
        if (!this.failures && !this.stopped) {
          // Commits notified while this ran (notify only marks them then).
          if (this.dirty) this.want(this.dirtySince + this.delayMs);
          // Otherwise a look every recheckMs: a commit made by another process (trail
          // snapshot, accept) or a missed notify still leaves the host. Costs one
          // for-each-ref when nothing is new.
          else if (this.timer === undefined) this.want(this.now() + this.recheckMs);
        }
      }
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  // ------------------------------------------------------------------ one round

  /** `lastMs`: the last push at stop, bounded as a whole by that long; any other round that
   * starts once stopped (queued behind the one abandoned) pushes nothing. */
  private async round(force: boolean, lastMs?: number): Promise<RoundOutcome> {
    const started = this.now();
    this.dirty = false;
    const skip = new Set<string>();
    const include = new Set<string>();
    for (const [ref, due] of this.held) (force || due <= started ? include : skip).add(ref);
    if (this.stopped && lastMs === undefined) return unreached(started, 'the publisher is stopped', skip);
    const ac = new AbortController();
    // Real time, as git's own timeout: the bound holds whatever clock the publisher is given.
    const deadline =
      lastMs === undefined
        ? undefined
        : setTimeout(
            () => ac.abort(new Error(`timed out: the last push at ${this.stopNote?.why} is given ${lastMs / 1000} s`)),
            lastMs,
          ).unref();
    if (lastMs === undefined) this.inFlight = ac;
    let outcome: RoundOutcome;
    try {
      const token = await this.token();
      outcome = await pushRound(this.repo, this.remote, token, {
        skip,
        include,
        timeoutMs: lastMs ?? this.opts.timeoutMs ?? 300_000,
        // A `trail push` at work: this round fails at once, as with a remote that is down, and
        // is tried again after the backoff, not waited for (a stop must not wait either).
        lockWaitMs: LOCK_WAIT_MS,
        signal: ac.signal,
        now: this.now,
        log: this.log,
        alert: this.alert,
      });
    } catch (err) {
      // No token, or the repository unreadable: a failure like a remote that is down.
      outcome = unreached(started, (err as Error).message, skip);
    } finally {
      if (deadline) clearTimeout(deadline);
      if (this.inFlight === ac) this.inFlight = undefined;
    }
    this.pushes += outcome.pushes;
    const end = this.now();
    if (lastMs === undefined && ac.signal.aborted && outcome.error) {
      // Abandoned by stop(): no failure of the remote's to count or retry; the last push (if
      // any) and the backlog check come with it, or with the next start.
      const note = this.stopNote!;
      this.log(
        'warning',
        'publish-abandoned',
        `the push to ${this.remote.owner}/${this.remote.repo} in flight for ${Math.round((end - started) / 1000)} s was abandoned at ${note.why} (git push killed; the pushed marks did not move, nothing is lost)${note.lastMs !== undefined ? `; one last push, at most ${note.lastMs / 1000} s, follows` : ''}; the next start pushes whatever is left`,
        { remote: `${this.remote.owner}/${this.remote.repo}`, why: note.why },
      );
      return outcome;
    }
    if (!outcome.reached || outcome.error) {
      this.failures++;
      const wait = backoffDelay(this.failures, { ...this.opts.backoff, minMs: this.delayMs }, this.opts.random);
      if (this.stopped)
        this.log(
          'warning',
          'publish-failed',
          `the last push to ${this.remote.owner}/${this.remote.repo} at ${this.stopNote?.why} failed: ${outcome.error}; the next start pushes what is left`,
          { failures: this.failures },
        );
      else {
        this.log(
          this.failures === 1 ? 'warning' : 'info',
          'publish-failed',
          `push to ${this.remote.owner}/${this.remote.repo} failed (attempt ${this.failures}, next in ${Math.round(wait / 1000)} s): ${outcome.error}`,
          { failures: this.failures, retryMs: wait },
        );
        this.schedule(wait);
      }
    } else {
      if (this.failures)
        this.log(
          'notice',
          'publish-recovered',
          `pushed to ${this.remote.owner}/${this.remote.repo} again after ${this.failures} failed attempts`,
        );
      this.failures = 0;
      for (const r of outcome.refs) {
        if (r.ok) this.held.delete(r.name);
        else this.held.set(r.name, end + this.recheckMs);
      }
      const moved = outcome.refs.filter((r) => r.ok && r.status !== 'up to date');
      if (moved.length)
        this.log('debug', 'publish-pushed', `pushed ${moved.map((r) => `${r.name} ${r.tip.slice(0, 12)}`).join(', ')}`);
      if (!this.stopped && this.held.size) this.want(Math.min(...this.held.values()));
    }
    await this.checkBacklog(outcome.clean).catch((err) =>
      this.log('warning', 'publish-backlog', `cannot read the unpushed backlog: ${(err as Error).message}`),
    );
    return outcome;
  }

  /**
   * The backlog alarm: commits older than alertAfterSeconds still on the host alert once; the
   * alarm clears when the backlog is younger again (pushed), and may then alert once more.
   */
  private async checkBacklog(clean: boolean): Promise<void> {
    if (this.alertTimer !== undefined) this.timers.clearTimeout(this.alertTimer);
    this.alertTimer = undefined;
    await withPublishLock(this.repo, LOCK_WAIT_MS, () => this.checkBacklogHeld(clean));
  }

  private async checkBacklogHeld(clean: boolean): Promise<void> {
    const state = await loadPublishState(this.repo, this.remote);
    const alarm = state.alarms.find((a) => a.kind === 'backlog');
    let b = { commits: 0, oldest: null as number | null };
    if (!clean) b = await totalBacklog(this.repo, await readTips(this.repo, this.remote));
    const now = this.now();
    const ageMs = b.oldest === null ? 0 : now - b.oldest * 1000;
    if (b.commits && ageMs >= this.alertAfterMs) {
      if (alarm) return;
      const where = `${this.remote.owner}/${this.remote.repo}`;
      const message = `${b.commits} commit${b.commits === 1 ? '' : 's'} not pushed to ${where} for ${Math.round(ageMs / 60_000)} min (the oldest from ${new Date(b.oldest! * 1000).toISOString()})${state.lastAttempt?.error ? `; last error: ${state.lastAttempt.error}` : ''}`;
      const a: Alarm = {
        ref: '*',
        kind: 'backlog',
        since: new Date(now).toISOString(),
        last: new Date(now).toISOString(),
        message,
        alerted: false,
      };
      this.log('error', 'publish-backlog', message, { commits: b.commits, oldest: b.oldest });
      try {
        await this.alert(message, {
          event: 'publish-backlog',
          host: hostName(),
          trail: { name: this.repo.info.name, dir: this.repo.info.dir },
          remote: where,
          commits: b.commits,
          oldest: new Date(b.oldest! * 1000).toISOString(),
          message,
        });
      } catch {
        /* the alarm stands in the log and in status */
      }
      a.alerted = true;
      state.alarms.push(a);
      await savePublishState(this.repo, state);
      return;
    }
    if (alarm) {
      state.alarms = state.alarms.filter((a) => a !== alarm);
      await savePublishState(this.repo, state);
      this.log(
        'notice',
        'publish-backlog-cleared',
        `the unpushed backlog is below ${this.alertAfterMs / 1000} s again`,
      );
    }
    // Still waiting: look again when it would turn overdue, even if no push happens then.
    if (b.commits && !this.stopped) {
      this.alertTimer = this.timers.setTimeout(
        () => {
          this.alertTimer = undefined;
          void this.exclusive(() => this.checkBacklog(false)).catch(() => undefined);
        },
        Math.max(0, this.alertAfterMs - ageMs),
      );
    }
  }
}

/** How long a round of trail watch waits for another process's push (publish-state.ts). */
const LOCK_WAIT_MS = 2_000;

/** A round that reached nothing (no token, the repository unreadable, or stopped): a failure
 * like a remote that is down. */
function unreached(started: number, error: string, skip: ReadonlySet<string>): RoundOutcome {
  return {
    time: new Date(started).toISOString(),
    reached: false,
    error,
    refs: [],
    raised: [],
    alarms: [],
    waiting: [],
    pushes: 0,
    skipped: [...skip],
    clean: false,
  };
}
