import type { ScanResult } from '../record/index.js';
import type { Actor } from '../record/commit/commit.js';
import { asNumber, type Config } from '../record/repo/settings.js';
import { record, type RecordResult } from '../record/snapshot.js';
import { asSecretLine } from '../record/read/as-secret.js';
import { recordAttributed, type Attributor } from '../attribute/attributor.js';
import { Debouncer, type Batch } from './debouncer.js';
import { collapseRoots } from './roots.js';
import { subjectOf } from './commit-subject.js';
import { applyPolicy } from './policy-response.js';
import { commitRetryDelayMs, failureReason } from './retry-policy.js';
import type { CommitMade, WatchContext } from './job.js';

// Who made a change is not known to a plain event source; attribution comes with audit.
const UNKNOWN: Actor = { name: 'unknown' };

export function mergeBatch(a: Batch | undefined, b: Batch | undefined): Batch | undefined {
  if (!a || !b) return a ?? b;
  for (const p of b.paths) a.paths.add(p);
  a.firstSeen = Math.min(a.firstSeen, b.firstSeen);
  return a;
}

export function quietMs(config: Config): number {
  return asNumber(config['watch.quietMs'], 300);
}
export function maxDelayMs(config: Config): number {
  return Math.max(asNumber(config['watch.maxDelayMs'], 2000), quietMs(config));
}

export interface WindowDeps {
  /** Who-data from audit; absent: every commit says "unknown" with this trailer. */
  attributor?: Attributor;
  unknownTrailer: Record<string, string>;
  onCommit(c: CommitMade): void;
  /** What a scan saw: one widened to the whole tree names the files linked from outside it. */
  onScan?(scan: ScanResult): void;
}

/**
 * Event window → commits: the paths events name are gathered until the directory is quiet
 * (debouncer), then recorded as one commit per actor (with audit) or one commit (without),
 * one at a time through the write queue; the policy acts on each. A window that cannot be
 * written (disk full, lock busy) keeps its paths and is tried again (retry-policy.ts).
 */
export class EventWindow {
  private readonly debouncer: Debouncer;
  /** Batches waiting for the commit in progress to finish: merged into one commit. */
  private queued: Batch | undefined;
  private failedBatch: Batch | undefined;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Paths of an apt transaction still running, to be added back in a second. */
  private deferred = new Set<string>();

  constructor(
    private readonly ctx: WatchContext,
    private readonly deps: WindowDeps,
  ) {
    const c = ctx.config();
    this.debouncer = new Debouncer(quietMs(c), maxDelayMs(c), (b) => this.enqueue(b));
  }

  /** Paths an event source reported. */
  touched(paths: string[]): void {
    if (!this.ctx.stopped()) this.debouncer.add(paths);
  }

  reload(): void {
    const c = this.ctx.config();
    this.debouncer.setTimes(quietMs(c), maxDelayMs(c));
  }

  /** Every path events named that no commit has recorded yet: waiting for quiet, queued
   * behind the commit in progress, failed and waiting for a retry, or deferred. */
  pendingPaths(): string[] {
    const all = new Set<string>(this.debouncer.peek());
    for (const b of [this.queued, this.failedBatch]) if (b) for (const p of b.paths) all.add(p);
    for (const p of this.deferred) all.add(p);
    return [...all];
  }

  /** Commits what events reported so far, now (a reconcile runs next: what events reported
   * is committed as such, not counted as missed). Call from inside the write queue. */
  async commitPending(): Promise<void> {
    const pending = mergeBatch(this.debouncer.take(), this.queued);
    this.queued = undefined;
    if (pending) await this.commitBatch(pending, false);
  }

  /** Stopping: everything pending (waiting, queued, failed) in one last commit. */
  async flushFinal(): Promise<void> {
    clearTimeout(this.retryTimer);
    const pending = mergeBatch(mergeBatch(this.debouncer.take(), this.queued), this.failedBatch);
    this.queued = this.failedBatch = undefined;
    if (pending) await this.ctx.serial(() => this.commitBatch(pending, true));
  }

  private enqueue(b: Batch): void {
    if (this.ctx.stopped()) return;
    if (this.queued) {
      mergeBatch(this.queued, b);
      return;
    }
    this.queued = b;
    void this.ctx.serial(async () => {
      const q = this.queued;
      this.queued = undefined;
      if (q) await this.commitBatch(q, false);
    });
  }

  private async record(roots: string[], final: boolean): Promise<{ res: RecordResult; deferred: string[] }> {
    const { ctx } = this;
    const attributor = this.deps.attributor;
    if (!attributor) {
      const plain = await record(ctx.repo, {
        subject: subjectOf,
        actor: UNKNOWN,
        action: 'watch',
        roots,
        trailers: this.deps.unknownTrailer,
      });
      await applyPolicy(ctx, plain, UNKNOWN, {});
      this.deps.onScan?.(plain.scan);
      return { res: plain, deferred: [] };
    }
    const r = await recordAttributed(ctx.repo, attributor, roots, subjectOf, final, (res, actor, trailers) =>
      applyPolicy(ctx, res, actor, trailers),
    );
    if (r.last?.scan) this.deps.onScan?.(r.last.scan);
    const res = r.last
      ? { ...r.last, commit: r.commits.at(-1), changes: r.changes }
      : { changes: [], scan: undefined as never, state: new Map() };
    return { res, deferred: r.deferred };
  }

  private async commitBatch(b: Batch, final: boolean): Promise<void> {
    const { ctx } = this;
    const roots = collapseRoots(b.paths);
    const t0 = Date.now();
    let res: RecordResult;
    try {
      const r = await ctx.withLock(ctx.repo, 'watch', () => this.record(roots, final));
      res = r.res;
      // An apt transaction still running becomes one commit once it ends.
      if (r.deferred.length && !final) {
        for (const p of r.deferred) this.deferred.add(p);
        setTimeout(() => {
          for (const p of r.deferred) this.deferred.delete(p);
          if (!ctx.stopped()) this.debouncer.add(r.deferred);
        }, 1000).unref();
      }
    } catch (err) {
      this.onFailure(b, final, err);
      return;
    }
    if (this.failures) ctx.log('info', 'recovered', `recording works again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
    if (res.commit) {
      const now = Date.now();
      // notice: every commit id also reaches syslog, a witness outside the repository
      ctx.log('notice', 'commit', `${res.commit} ${subjectOf(res.changes)}`, {
        commit: res.commit,
        changes: res.changes.length,
        roots: roots.length,
        commitMs: now - t0,
        latencyMs: now - b.firstSeen,
      });
      this.deps.onCommit({ commit: res.commit, changes: res.changes.length, action: 'watch' });
      for (const a of res.scan?.asSecrets ?? []) ctx.log('notice', 'as-secret', asSecretLine(a));
    } else {
      ctx.log('debug', 'no-change', `nothing to record under ${roots.length} path(s)`, { ms: Date.now() - t0 });
    }
  }

  private onFailure(b: Batch, final: boolean, err: unknown): void {
    const { ctx } = this;
    this.failures++;
    const why = failureReason(err);
    if (final) {
      ctx.log(
        'error',
        'commit-failed',
        `could not record ${b.paths.size} pending path(s) before stopping: ${why}; the next start records them as changed while not watching`,
      );
      return;
    }
    // Keep the paths and try again: nothing is dropped while the disk is full or the lock busy.
    this.failedBatch = mergeBatch(this.failedBatch, b);
    const wait = commitRetryDelayMs(this.failures);
    ctx.log('error', 'commit-failed', `could not record changes (${why}); retrying in ${wait / 1000} s`, {
      attempt: this.failures,
    });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (ctx.stopped()) return; // stopping: flushFinal takes it
      const f = this.failedBatch;
      this.failedBatch = undefined;
      if (f) this.enqueue(f);
    }, wait);
  }
}
