import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { asList, asNumber, readConfig, type Config } from '../record/repo/settings.js';
import { invokingActor, type Actor } from '../record/commit/commit.js';
import type { Change } from '../record/model/diff.js';
import { listWatched, type Watched } from '../host/registry.js';
import { Refs, Repo } from '../record/repo/repo.js';
import { makeRules } from '../record/list/rules.js';
import { record, type RecordResult } from '../record/snapshot.js';
import { flushCache, keepCacheInMemory } from '../record/model/stat-cache.js';
import { keepXattrsInMemory, runXattrsWith } from '../record/read/xattrs.js';
import { display } from '../util/bytes.js';
import { Exit, TrailError, errorCode } from '../util/errors.js';
import { Debouncer, type Batch } from './debouncer.js';
import { DirSource } from './dir-source.js';
import type { Log } from './log.js';
import { collapseRoots } from './roots.js';
import { WatchLimitError, type EventSource, type SourceKind } from './source.js';
import { AuditFeed } from '../attribute/audit-feed.js';
import { runStatusWith } from '../attribute/auditctl.js';
import { Spawner } from '../attribute/spawner.js';
import { Attributor, recordAttributed } from '../attribute/attributor.js';
import { startAccess, type AccessRecorder } from '../attribute/access.js';
import { trailHome } from '../host/registry.js';
import { checkpointLogs, type LiveHashes } from '../logs/index.js';
import { respond } from '../act/respond.js';
import { anchorOptionsFromConfig } from '../anchor/options.js';
import { runAnchorJob } from '../anchor/anchor-job.js';

/** Runs `fn` as the repository's one writer (the CLI passes asWriter: lock, then finish an
 * interrupted revert). Taken per commit and never while idle, so that `trail snapshot` and
 * `trail revert` work while the daemon runs. */
export type WithLock = <T>(repo: Repo, purpose: string, fn: () => Promise<T>) => Promise<T>;

export interface DaemonOptions {
  /** Watched names; empty = every watched directory of the host. */
  names: string[];
  /** Overrides watch.source. */
  source?: 'auto' | SourceKind;
  log: Log;
  withLock: WithLock;
  /** Who-data from Linux audit, shared by every watched directory (src/attribute). */
  audit?: AuditFeed;
  /** Why there is none, for the commits that then say "unknown". */
  auditMissing?: string;
}

// Who made a change is not known to a plain event source; attribution comes with audit.
const UNKNOWN: Actor = { name: 'unknown' };
const UNKNOWN_TRAILER = { 'Trail-Actor': 'unknown (seen by trail watch)' };
const IDLE_FLUSH_MS = 5000;
const UPGRADE_EVERY_MS = 3600_000;
const ANCHOR_RETRY_MS = 300_000;
// Without events (watch limit reached) the full reconcile is all there is: run it often.
const DEGRADED_RECONCILE_S = 60;

const VERB: Record<Change['change'], string> = {
  added: 'added',
  deleted: 'removed',
  modified: 'changed',
  metadata: 'changed metadata of',
  type: 'changed type of',
};

export function subjectOf(changes: Change[]): string {
  if (!changes.length) return 'no change';
  if (changes.length === 1) return `${VERB[changes[0]!.change]} ${display(changes[0]!.path)}`;
  const names = changes
    .slice(0, 3)
    .map((c) => display(c.path))
    .join(', ');
  return `${changes.length} changes: ${names}${changes.length > 3 ? ', …' : ''}`;
}

function mergeBatch(a: Batch | undefined, b: Batch | undefined): Batch | undefined {
  if (!a || !b) return a ?? b;
  for (const p of b.paths) a.paths.add(p);
  a.firstSeen = Math.min(a.firstSeen, b.firstSeen);
  return a;
}

/**
 * A full garbage collection now, when the daemon has gone quiet (after the start-up
 * reconcile, after the idle flush that follows a run of commits): V8 otherwise keeps the heap
 * the start-up scan or a burst grew to, for a process that then idles for days (measured at
 * 50k files: ~160 MB resident 2 s after start, ~237 MB after a burst). A pause of a few tens
 * of ms while nothing waits; trail watch only.
 */
function compactHeap(): void {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    /* only memory */
  }
}

/** Watches one directory: event source → debouncer → one commit at a time. */
class RepoWatcher {
  repo!: Repo;
  private config!: Config;
  private source: EventSource | undefined;
  private debouncer!: Debouncer;
  private chain: Promise<unknown> = Promise.resolve();
  /** Batches waiting for the commit in progress to finish: merged into one commit. */
  private queued: Batch | undefined;
  private failed: Batch | undefined;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private reconcileQueued = false;
  private degraded: WatchLimitError | undefined;
  private stopped = false;
  private started = false;
  private attributor: Attributor | undefined;
  private accessRecorder: AccessRecorder | undefined;
  private logsTimer: NodeJS.Timeout | undefined;
  private anchorTimer: NodeJS.Timeout | undefined;
  /** wanted: commits were made since the last stamp attempt (or the daemon just started);
   * retryAt: when queued commits are due again; upgradeAt: when pending proofs are asked about. */
  private readonly anchoring = { wanted: true, retryAt: 0, upgradeAt: 0 };
  /** Ends a running anchoring process when the watcher stops. */
  private readonly anchorAbort = new AbortController();
  private lastHeartbeat = 0;
  /** Running hashes of the tracked logs: each checkpoint then reads only what was appended. */
  private readonly logHashes: LiveHashes = new Map();

  constructor(
    readonly watched: Watched,
    private readonly d: DaemonOptions,
  ) {}

  private get name(): string {
    return this.watched.name;
  }

  /** The policy acts on each commit the watcher makes (protect, alert, hooks), inside the same
   * lock. A failure there is logged; the commit it followed is never lost. */
  private async applyPolicy(
    res: RecordResult,
    actor: Actor,
    trailers: Record<string, string | undefined>,
  ): Promise<void> {
    try {
      const r = await respond(this.repo, res, { name: actor.name, package: !!trailers['Trail-Packages'] }, 'watch');
      if (!r) return;
      if (r.restored.length)
        this.log('warning', 'protect', `restored ${r.restored.map(display).join(', ')} to approved`, {
          commit: r.restoreCommit,
        });
      if (r.gaveUp.length)
        this.log(
          'warning',
          'protect-gave-up',
          `gave up restoring ${r.gaveUp.map(display).join(', ')}: something keeps rewriting it`,
        );
      for (const a of r.alerts) this.log('warning', 'alert', a.summary);
      for (const h of r.hooks) if (!h.ok) this.log('error', 'hook-failed', `hook ${h.hook} failed: ${h.problem}`);
    } catch (err) {
      this.log(
        'error',
        'policy-failed',
        `the policy could not act on ${res.commit?.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private log(
    level: Parameters<Log['write']>[0],
    event: string,
    msg: string,
    fields: Record<string, unknown> = {},
  ): void {
    this.d.log.write(level, event, `${this.name}: ${msg}`, { name: this.name, ...fields });
  }

  async start(): Promise<void> {
    this.repo = await Repo.open(this.watched.repo);
    this.config = await readConfig(this.repo);
    this.debouncer = new Debouncer(this.quietMs(), this.maxDelayMs(), (b) => this.enqueue(b));
    if (this.d.audit && this.config['attribute.audit'] !== 'off') {
      await this.d.audit.addDir(this.name, this.watched.dir);
      this.attributor = new Attributor(this.d.audit, this.name, this.watched.dir, trailHome());
      const access = await startAccess(
        this.d.audit,
        this.repo,
        this.name,
        this.watched.dir,
        asList(this.config['access.paths']),
      );
      this.accessRecorder = access?.recorder;
      if (access)
        this.log('info', 'access', `access trail: read rules on ${access.files} file(s) matching access.paths`);
    }
    // Watches first, then the start-up reconcile: a change made in between is seen by both,
    // never by neither.
    await this.startSource();
    await this.serial(() => this.catchUp());
    await this.serial(() =>
      this.event('watch-start', `trail watch started (${this.sourceLabel()})`, [
        `pid ${process.pid}; event source: ${this.sourceLabel()}`,
        'From here on every change is recorded within a quiet window of the change.',
      ]),
    );
    this.log('notice', 'start', `watching ${this.watched.dir} (${this.sourceLabel()})`, {
      dir: this.watched.dir,
      source: this.source?.kind ?? 'none',
      watches: this.source?.watches() ?? 0,
    });
    this.started = true;
    this.scheduleReconcile();
    this.scheduleLogCheckpoint();
    this.scheduleAnchoring();
  }

  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.retryTimer, this.reconcileTimer, this.idleTimer, this.logsTimer, this.anchorTimer])
      clearTimeout(t);
    this.anchorAbort.abort();
    await this.source?.close();
    this.source = undefined;
    const pending = mergeBatch(mergeBatch(this.debouncer.take(), this.queued), this.failed);
    this.queued = this.failed = undefined;
    if (pending) await this.serial(() => this.commitBatch(pending, true));
    await this.serial(() =>
      this.event('watch-stop', `trail watch stopped (${reason})`, [
        `pid ${process.pid} stopped on ${reason}. Changes from now on are recorded when trail watch starts again, as changed while not watching.`,
      ]),
    );
    await this.serial(() => this.flushToDisk());
    await this.accessRecorder?.stop().catch(() => undefined);
    if (this.attributor) await this.d.audit?.removeDir(this.name).catch(() => undefined);
    this.log('notice', 'stop', `stopped watching ${this.watched.dir} (${reason})`, { reason });
    this.repo.close();
  }

  async reload(): Promise<void> {
    const before = this.config;
    this.config = await readConfig(this.repo);
    this.debouncer.setTimes(this.quietMs(), this.maxDelayMs());
    const changed = (k: string) => JSON.stringify(before[k]) !== JSON.stringify(this.config[k]);
    // A raised inotify limit, another source or other ignore rules need fresh watches; what
    // happened while they were being replaced is found by the reconcile that follows.
    if (this.degraded || changed('watch.source') || changed('ignore')) {
      await this.source?.close();
      this.source = undefined;
      this.degraded = undefined;
      await this.startSource();
      this.requestReconcile('config reloaded');
    }
    this.scheduleReconcile();
    this.log(
      'info',
      'reload',
      `configuration reloaded (quiet ${this.quietMs()} ms, max delay ${this.maxDelayMs()} ms, reconcile every ${this.reconcileSeconds()} s, ${this.sourceLabel()})`,
    );
  }

  private quietMs(): number {
    return asNumber(this.config['watch.quietMs'], 300);
  }
  private maxDelayMs(): number {
    return Math.max(asNumber(this.config['watch.maxDelayMs'], 2000), this.quietMs());
  }
  private reconcileSeconds(): number {
    const s = asNumber(this.config['watch.reconcileSeconds'], 3600);
    return this.degraded ? Math.min(s, DEGRADED_RECONCILE_S) : s;
  }

  private sourceLabel(): string {
    if (this.degraded || !this.source) return `no event source: full reconcile every ${this.reconcileSeconds()} s`;
    return `${this.source.kind}, ${this.source.watches()} watches`;
  }

  private async startSource(): Promise<void> {
    const setting = String(this.d.source ?? this.config['watch.source'] ?? 'auto');
    const kind: SourceKind =
      setting === 'chokidar' || (setting === 'auto' && process.platform !== 'linux') ? 'chokidar' : 'inotify';
    const opts = {
      root: this.watched.dir,
      rules: makeRules(asList(this.config.ignore), asList(this.config.secrets), [], asList(this.config['logs.paths'])),
      events: {
        touched: (paths: string[]) => {
          if (!this.stopped) this.debouncer.add(paths);
        },
        lost: (reason: string) => {
          this.log('warning', 'lost', `events may have been missed (${reason}); reconciling everything`);
          this.requestReconcile('events may have been missed');
        },
        limit: (err: WatchLimitError) => this.enterDegraded(err),
      },
    };
    // chokidar is loaded only where it is the source (the portable fallback).
    const src: EventSource =
      kind === 'chokidar' ? new (await import('./chokidar-source.js')).ChokidarSource(opts) : new DirSource(opts);
    const t0 = Date.now();
    try {
      await src.start();
    } catch (err) {
      await src.close();
      if (err instanceof WatchLimitError) return this.enterDegraded(err);
      if (errorCode(err) === 'ENOENT')
        throw new TrailError(
          `${this.watched.dir} does not exist: cannot watch ${this.name}`,
          Exit.error,
          `recreate it, or stop watching it with: trail forget ${this.name}`,
        );
      throw err;
    }
    if (this.stopped) return void (await src.close());
    this.source = src;
    this.log('info', 'source', `${src.kind}: ${src.watches()} watches in place in ${Date.now() - t0} ms`, {
      source: src.kind,
      watches: src.watches(),
      ms: Date.now() - t0,
    });
  }

  private enterDegraded(err: WatchLimitError): void {
    if (this.degraded || this.stopped) return;
    this.degraded = err;
    const src = this.source;
    this.source = undefined;
    void src?.close();
    this.log('error', 'watch-limit', `${err.message} (every ${this.reconcileSeconds()} s)`, {
      sysctl: 'fs.inotify.max_user_watches',
    });
    // Before the start-up reconcile has run, it is the one that looks (and says "while not
    // watching"); later, a look now covers what the lost watches would have reported.
    if (this.started) {
      this.requestReconcile('watch limit reached');
      this.scheduleReconcile();
    }
  }

  /** One write at a time per repository, in order; a failure does not stop the ones after. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private enqueue(b: Batch): void {
    if (this.stopped) return;
    if (this.queued) {
      mergeBatch(this.queued, b);
      return;
    }
    this.queued = b;
    void this.serial(async () => {
      const q = this.queued;
      this.queued = undefined;
      if (q) await this.commitBatch(q, false);
    });
  }

  private async commitBatch(b: Batch, final: boolean): Promise<void> {
    const roots = collapseRoots(b.paths);
    const t0 = Date.now();
    let res: RecordResult;
    let deferred: string[] = [];
    try {
      const attributor = this.attributor;
      res = await this.d.withLock(this.repo, 'watch', async () => {
        if (!attributor) {
          const plain = await record(this.repo, {
            subject: subjectOf,
            actor: UNKNOWN,
            action: 'watch',
            roots,
            trailers: this.unknownTrailer(),
          });
          await this.applyPolicy(plain, UNKNOWN, {});
          return plain;
        }
        const r = await recordAttributed(this.repo, attributor, roots, subjectOf, final, (res, actor, trailers) =>
          this.applyPolicy(res, actor, trailers),
        );
        deferred = r.deferred;
        return r.last
          ? { ...r.last, commit: r.commits.at(-1), changes: r.changes }
          : { changes: [], scan: undefined as never, state: new Map() };
      });
      // An apt transaction still running becomes one commit once it ends.
      if (deferred.length && !final)
        setTimeout(() => {
          if (!this.stopped) this.debouncer.add(deferred);
        }, 1000).unref();
    } catch (err) {
      this.failures++;
      const why =
        errorCode(err) === 'ENOSPC' || errorCode(err) === 'EDQUOT'
          ? 'no space left for the shadow repository'
          : err instanceof Error
            ? err.message
            : String(err);
      if (final) {
        this.log(
          'error',
          'commit-failed',
          `could not record ${b.paths.size} pending path(s) before stopping: ${why}; the next start records them as changed while not watching`,
        );
        return;
      }
      // Keep the paths and try again: nothing is dropped while the disk is full or the lock busy.
      this.failed = mergeBatch(this.failed, b);
      const wait = Math.min(1000 * 2 ** Math.min(this.failures - 1, 5), 30_000);
      this.log('error', 'commit-failed', `could not record changes (${why}); retrying in ${wait / 1000} s`, {
        attempt: this.failures,
      });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        const f = this.failed;
        this.failed = undefined;
        if (f) this.enqueue(f);
      }, wait);
      return;
    }
    if (this.failures) this.log('info', 'recovered', `recording works again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
    if (res.commit) {
      const now = Date.now();
      // notice: every commit id also reaches syslog, a witness outside the repository
      this.log('notice', 'commit', `${res.commit} ${subjectOf(res.changes)}`, {
        commit: res.commit,
        changes: res.changes.length,
        roots: roots.length,
        commitMs: now - t0,
        latencyMs: now - b.firstSeen,
      });
      this.scheduleIdleFlush();
    } else {
      this.log('debug', 'no-change', `nothing to record under ${roots.length} path(s)`, { ms: Date.now() - t0 });
    }
  }

  private unknownTrailer(): Record<string, string> {
    return this.d.auditMissing
      ? { 'Trail-Actor': `unknown (no attribution: ${this.d.auditMissing})` }
      : UNKNOWN_TRAILER;
  }

  /** The start-up reconcile: what changed since the trail's last commit, while no watcher ran. */
  private async catchUp(): Promise<void> {
    const head = await this.repo.readRef(Refs.observed);
    const since = head
      ? (await this.repo.git(['log', '-1', '--format=%cI', head])).stdout.toString().trim()
      : undefined;
    const until = new Date().toISOString();
    const span = since ? `between ${since} and ${until}` : `before ${until}`;
    const res = await this.d.withLock(this.repo, 'watch', () =>
      record(this.repo, {
        subject: (c) => `changed while not watching: ${subjectOf(c)}`,
        actor: UNKNOWN,
        action: 'watch-gap',
        body: [
          `trail watch found these changes when it started: they were made ${span}, while no watcher was running, by someone unknown.`,
        ],
        trailers: { ...UNKNOWN_TRAILER, 'Trail-Unwatched-Since': since, 'Trail-Unwatched-Until': until },
      }),
    );
    if (res.commit) {
      this.log(
        'notice',
        'gap',
        `${res.changes.length} change(s) made while not watching (${span}) recorded as ${res.commit.slice(0, 12)}`,
        { commit: res.commit, changes: res.changes.length, since, until },
      );
      this.scheduleIdleFlush();
    }
  }

  private async event(action: 'watch-start' | 'watch-stop', subject: string, body: string[]): Promise<void> {
    try {
      await this.d.withLock(this.repo, action, () =>
        record(this.repo, { subject, actor: invokingActor(), action, roots: [], allowEmpty: true, body }),
      );
    } catch (err) {
      this.log('error', 'event-failed', `could not record ${action}: ${(err as Error).message}`);
    }
  }

  private requestReconcile(why: string): void {
    if (this.reconcileQueued || this.stopped) return;
    this.reconcileQueued = true;
    void this.serial(async () => {
      this.reconcileQueued = false;
      await this.reconcile(why);
    });
  }

  private async reconcile(why: string): Promise<void> {
    if (this.stopped) return;
    // Changes events already reported are committed as such, not counted as missed.
    const pending = mergeBatch(this.debouncer.take(), this.queued);
    this.queued = undefined;
    if (pending) await this.commitBatch(pending, false);
    const t0 = Date.now();
    try {
      const res = await this.d.withLock(this.repo, 'watch', () =>
        record(this.repo, {
          subject: (c) => `found by a full reconcile: ${subjectOf(c)}`,
          actor: UNKNOWN,
          action: 'watch-reconcile',
          body: [
            `trail watch compared the whole directory with the trail (${why}) and found changes no event had reported.`,
          ],
          trailers: UNKNOWN_TRAILER,
        }),
      );
      const fields = { why, ms: Date.now() - t0, changes: res.changes.length, commit: res.commit };
      if (res.commit) {
        this.log(
          this.degraded ? 'info' : 'warning',
          'reconcile',
          `full reconcile (${why}) found ${res.changes.length} change(s) no event reported: ${res.commit.slice(0, 12)}`,
          fields,
        );
        this.scheduleIdleFlush();
      } else this.log('info', 'reconcile', `full reconcile (${why}): nothing missed (${Date.now() - t0} ms)`, fields);
    } catch (err) {
      this.log(
        'error',
        'reconcile-failed',
        `full reconcile (${why}) failed: ${(err as Error).message}; trying again in 10 s`,
      );
      setTimeout(() => this.requestReconcile(why), 10_000).unref();
    }
  }

  private scheduleReconcile(): void {
    clearTimeout(this.reconcileTimer);
    if (this.stopped) return;
    this.reconcileTimer = setTimeout(() => {
      this.requestReconcile(this.degraded ? 'no event source' : 'periodic');
      this.scheduleReconcile();
    }, this.reconcileSeconds() * 1000);
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
  private scheduleAnchoring(): void {
    clearTimeout(this.anchorTimer);
    if (this.stopped) return;
    this.anchorTimer = setTimeout(
      () => {
        this.anchorTick()
          .catch((err: unknown) => this.log('warning', 'anchor-failed', `anchoring: ${(err as Error).message}`))
          .finally(() => this.scheduleAnchoring());
      },
      Math.min(asNumber(this.config['anchor.batchSeconds'], 300), 60) * 1000,
    );
    this.anchorTimer.unref?.();
  }

  private async anchorTick(): Promise<void> {
    const now = Date.now();
    const a = this.anchoring;
    const job = { stamp: a.wanted || (a.retryAt > 0 && now >= a.retryAt), upgrade: now >= a.upgradeAt };
    if (job.stamp || job.upgrade) {
      a.wanted = false;
      const opts = anchorOptionsFromConfig(this.config);
      const r = await runAnchorJob(this.repo.gitDir, opts, job, this.anchorAbort.signal);
      if (this.stopped) return;
      if (r.error) {
        // Not every minute: a job that fails (a broken install, a damaged queue) is tried
        // again in a few minutes, and says so each time.
        this.log('warning', 'anchor-failed', `anchoring: ${r.error}; trying again in ${ANCHOR_RETRY_MS / 60_000} min`);
        if (job.stamp) a.retryAt = now + ANCHOR_RETRY_MS;
      }
      if (r.stamp) {
        if (r.stamp.outcome === 'stamped') {
          this.log('info', 'stamped', `${r.stamp.stamped} commit(s) stamped with OpenTimestamps`, {
            commits: r.stamp.stamped,
          });
          a.upgradeAt = Math.min(a.upgradeAt, now + UPGRADE_EVERY_MS);
        } else if (r.stamp.outcome === 'too-few-calendars') {
          this.log(
            'warning',
            'stamp-deferred',
            `anchoring: too few calendars answered (${r.stamp.failed.map((c) => `${c.url}: ${c.error}`).join('; ')}); ${r.stamp.queued} commit(s) stay queued`,
          );
        }
        a.retryAt = r.stamp.queued > 0 ? (r.stamp.nextAttemptAt ?? now + opts.batchSeconds * 1000) : 0;
      }
      if (r.upgrade) a.upgradeAt = r.upgrade.pending > 0 ? now + UPGRADE_EVERY_MS : Infinity;
      else if (job.upgrade) a.upgradeAt = now + UPGRADE_EVERY_MS;
    }
    if (now - this.lastHeartbeat > 3600_000) {
      this.lastHeartbeat = now;
      const [observed, approved] = await Promise.all([
        this.repo.readRef(Refs.observed),
        this.repo.readRef(Refs.approved),
      ]).catch(() => [undefined, undefined]);
      this.log(
        'notice',
        'heartbeat',
        `heartbeat ${this.watched.name}: observed ${observed ?? '-'} approved ${approved ?? '-'}`,
        { observed, approved },
      );
    }
  }

  /** Tracked logs (src/logs) are checked and their state committed to refs/trail/logs
   * every logs.checkpointSeconds; their writes are not events (see makeRules), this is. */
  private scheduleLogCheckpoint(): void {
    clearTimeout(this.logsTimer);
    if (this.stopped) return;
    this.logsTimer = setTimeout(
      () =>
        void this.serial(async () => {
          try {
            const r = await this.d.withLock(this.repo, 'logs', () =>
              checkpointLogs(this.repo, { live: this.logHashes }),
            );
            for (const n of r.notes) this.log('info', 'log-rotation', n);
            for (const i of r.incidents)
              this.log('warning', 'log-alert', i.summary, { path: i.path, kind: i.kind, commit: r.commit });
          } catch (err) {
            this.log('error', 'logs-failed', `log checkpoint failed: ${(err as Error).message}`);
          }
          this.scheduleLogCheckpoint();
        }),
      asNumber(this.config['logs.checkpointSeconds'], 60) * 1000,
    );
  }

  /** index.json is written when things are quiet, so that CLI commands find it fresh. */
  private scheduleIdleFlush(): void {
    this.anchoring.wanted = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.serial(() => this.flushToDisk()), IDLE_FLUSH_MS);
  }

  private async flushToDisk(): Promise<void> {
    try {
      await this.d.withLock(this.repo, 'watch', async () =>
        flushCache(this.repo, await this.repo.readRef(Refs.observed)),
      );
    } catch (err) {
      this.log('warning', 'cache', `could not write the stat cache: ${(err as Error).message}`);
    }
    compactHeap();
  }
}

/** `trail watch`: every watched directory (or the named ones), each with its own watcher. */
export class Daemon {
  private watchers = new Map<string, RepoWatcher>();
  private spawner: Spawner | undefined;

  constructor(private readonly opts: DaemonOptions) {}

  async start(): Promise<void> {
    keepCacheInMemory(true);
    keepXattrsInMemory(true);
    // getfattr and auditctl -s run for every window: started by a shell, not by forking
    // the daemon each time.
    this.spawner = new Spawner();
    runXattrsWith(this.spawner.run);
    runStatusWith(this.spawner.run);
    Repo.longLived = true;
    const picked = await this.pick();
    await this.startAudit(picked);
    for (const w of picked) await this.startOne(w, !!this.opts.names.length);
    if (!this.watchers.size) throw new TrailError('no watched directory could be watched', Exit.error);
    compactHeap();
  }

  async stop(reason: string): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.stop(reason)));
    this.watchers.clear();
    await this.opts.audit?.close().catch(() => undefined);
    runXattrsWith(undefined);
    runStatusWith(undefined);
    this.spawner?.close();
  }

  private async startAudit(watched: Watched[]): Promise<void> {
    if (this.opts.audit || this.opts.auditMissing) return;
    const configs = await Promise.all(
      watched.map(async (w) => {
        const repo = await Repo.open(w.repo);
        try {
          return await readConfig(repo);
        } finally {
          repo.close();
        }
      }),
    );
    const off = configs.map((c) => c['attribute.audit'] === 'off');
    const backlogLimit = Math.max(0, ...configs.map((c) => asNumber(c['attribute.backlogLimit'], 8192)));
    if (off.length && off.every(Boolean)) {
      this.opts.auditMissing = 'attribute.audit is off';
      return;
    }
    const log = (msg: string) => this.opts.log.write('notice', 'audit', msg);
    try {
      const feed = await AuditFeed.start({ home: trailHome(), notice: log, backlogLimit });
      if (feed instanceof AuditFeed) {
        this.opts.audit = feed;
        log('attribution: Linux audit (records read from the auditd log)');
      } else {
        this.opts.auditMissing = feed.unavailable;
        this.opts.log.write(
          'warning',
          'audit',
          `attribution degraded, every change will say "unknown": ${feed.unavailable}`,
        );
      }
    } catch (err) {
      this.opts.auditMissing = `audit could not be set up: ${(err as Error).message}`;
      this.opts.log.write('warning', 'audit', `attribution degraded: ${this.opts.auditMissing}`);
    }
  }

  /** SIGHUP: settings again, and directories initialized or forgotten since the start. */
  async reload(): Promise<void> {
    const wanted = await this.pick();
    for (const [name, w] of this.watchers) {
      if (!wanted.some((x) => x.name === name)) {
        await w.stop('no longer watched');
        this.watchers.delete(name);
      }
    }
    for (const w of wanted) {
      const running = this.watchers.get(w.name);
      if (running) await running.reload();
      else await this.startOne(w, false);
    }
  }

  private async startOne(w: Watched, mustWork: boolean): Promise<void> {
    const rw = new RepoWatcher(w, this.opts);
    try {
      await rw.start();
      this.watchers.set(w.name, rw);
    } catch (err) {
      if (mustWork) throw err;
      this.opts.log.write('error', 'start-failed', `${w.name}: cannot watch ${w.dir}: ${(err as Error).message}`, {
        name: w.name,
      });
    }
  }

  private async pick(): Promise<Watched[]> {
    const all = await listWatched();
    if (!this.opts.names.length) {
      if (!all.length)
        throw new TrailError('no directory is watched yet', Exit.notInitialized, 'start with: trail init /etc');
      return all;
    }
    return this.opts.names.map((n) => {
      const w = all.find((x) => x.name === n);
      if (!w)
        throw new TrailError(
          `no watched directory named "${n}"${all.length ? ` (known: ${all.map((x) => x.name).join(', ')})` : ''}`,
          Exit.notInitialized,
        );
      return w;
    });
  }
}
