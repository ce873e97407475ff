import type { ScanResult } from '../record/index.js';
import type { AnswerRenderer } from '../host/watcher-socket.js';
import { invalidLine, readSettings, type Config } from '../record/repo/settings.js';
import { invokingActor } from '../record/commit/commit.js';
import { Repo } from '../record/repo/repo.js';
import { record } from '../record/snapshot.js';
import type { Watched } from '../host/registry.js';
import type { Log } from './log.js';
import type { SourceKind } from './source.js';
import { attachAudit, type AuditSetup, type RepoAudit } from './audit-setup.js';
import { EventWindow, maxDelayMs, quietMs } from './event-window.js';
import { SourceKeeper } from './source-keeper.js';
import { Reconciler } from './reconciler.js';
import { OpenWriters } from './open-writers.js';
import { LogFollower } from './log-follower.js';
import { AnchorScheduler } from './anchor-scheduler.js';
import { Housekeeping } from './housekeeping.js';
import { QueryServer } from './query-server.js';
import { WriteQueue } from './write-queue.js';
import { AlertSender } from './alert-sender.js';
import { deliverInBackground } from '../act/alert-outbox.js';
import { Checkpointer } from './checkpointer.js';
import { PublishJob } from './publish-job.js';
import type { CommitMade, Job, WatchContext, WithLock } from './job.js';

const UNKNOWN_TRAILER = { 'Trail-Actor': 'unknown (seen by trail watch)' };

export interface WatcherOptions {
  source?: 'auto' | SourceKind;
  log: Log;
  withLock: WithLock;
  audit: AuditSetup;
  render?: AnswerRenderer;
}

/**
 * Watches one directory. Wiring only: the event source (source-keeper) feeds the event
 * window (event-window: debounce → one commit at a time); beside it run the jobs — the
 * reconcile loop, the log follower, the anchoring scheduler, housekeeping — each told of every
 * commit. Start and stop are recorded as empty commits. See README.md in this folder.
 */
export class RepoWatcher {
  private ctx!: WatchContext;
  private config!: Config;
  private reloading: Promise<void> = Promise.resolve();
  private stopped = false;
  private audit!: RepoAudit;
  private sources!: SourceKeeper;
  private window!: EventWindow;
  private reconciler!: Reconciler;
  private housekeeping!: Housekeeping;
  private checkpointer!: Checkpointer;
  private alerts!: AlertSender;
  private publisher!: PublishJob;
  private jobs: Job[] = [];

  constructor(
    readonly watched: Watched,
    private readonly o: WatcherOptions,
  ) {}

  private get name(): string {
    return this.watched.name;
  }

  async start(): Promise<void> {
    const repo = await Repo.open(this.watched.repo);
    const settings = await readSettings(repo);
    this.config = settings.config;
    for (const s of settings.invalid)
      this.o.log.write('warning', 'config', `${this.name}: ${invalidLine(s)}`, {
        name: this.name,
        key: s.key,
        why: s.why,
      });
    const queue = new WriteQueue();
    this.ctx = {
      watched: this.watched,
      repo,
      config: () => this.config,
      log: (level, event, msg, fields = {}) =>
        this.o.log.write(level, event, `${this.name}: ${msg}`, { name: this.name, ...fields }),
      withLock: this.o.withLock,
      serial: (fn) => queue.run(fn),
      stopped: () => this.stopped,
    };
    const onCommit = (c: CommitMade) => {
      for (const j of this.jobs) j.onCommit?.(c);
    };
    this.audit = await attachAudit(this.ctx, this.o.audit.feed);
    // A whole scan names the files linked from outside the tree: each gets a watch of its own.
    const onScan = (scan: ScanResult) => {
      if (scan.linkedOutside) this.sources.watchFiles(scan.linkedOutside);
    };
    this.window = new EventWindow(this.ctx, {
      onScan,
      attributor: this.audit.attributor,
      unknownTrailer: this.o.audit.missing
        ? { 'Trail-Actor': `unknown (no attribution: ${this.o.audit.missing})` }
        : UNKNOWN_TRAILER,
      onCommit,
    });
    const logs = new LogFollower(this.ctx);
    await logs.init();
    let running = false;
    this.sources = new SourceKeeper(this.ctx, this.o.source, {
      // A log's writes are followed as a stream, not committed (src/logs).
      touched: (paths) => {
        const rest = logs.claim(paths);
        if (rest.length) this.window.touched(rest);
      },
      lookEverywhere: (why) => this.reconciler.request(why),
      degraded: () => {
        // Before the start-up reconcile has run, it is the one that looks (and says "while
        // not watching"); later, a look now covers what the lost watches would have reported.
        if (!running) return;
        this.reconciler.request('watch limit reached');
        this.reconciler.reload();
      },
      reconcileSeconds: () => this.reconciler.everySeconds(),
    });
    // What inotify may never report, as audit sees it: a hard link made to a file of the tree
    // (the file is watched on its own at once, then looked at: what was written through the
    // link before its watch was in place is found), and a file opened for writing (mmap).
    const writers = new OpenWriters(this.ctx, (paths) => this.window.touched(paths));
    this.audit.onWrite?.((w) => {
      // Paths the tree does not record (ignored), and logs (followed as streams), aside.
      if (this.stopped || !this.sources.records(w.path)) return;
      if (!w.link) return writers.opened(w.path, w.pid);
      // A new name in the tree is heard by its folder's watch (and makes a whole scan).
      if (w.to === undefined || !this.sources.records(w.to)) this.sources.watchMore(w.path);
      this.window.touched([w.path]);
    });
    this.reconciler = new Reconciler(this.ctx, {
      degraded: () => this.sources.degraded,
      commitPending: () => this.window.commitPending(),
      onCommit,
      onScan,
    });
    this.housekeeping = new Housekeeping(this.ctx);
    // trail status / diff / snapshot asked over a socket: answered from the paths events named,
    // while events can be trusted to name every change (inotify, no watch limit, no lost events).
    const queries = new QueryServer(this.ctx, {
      dirty: () =>
        this.sources.kind() === 'inotify' && !this.sources.degraded && !this.reconciler.owed()
          ? [...this.window.pendingPaths(), ...writers.paths()]
          : undefined,
      onCommit,
      reload: () => this.reload(),
      render: this.o.render,
      attributor: () => this.audit.attributor,
    });
    this.publisher = new PublishJob(this.ctx);
    this.checkpointer = new Checkpointer(this.ctx, {
      lastSerial: () => this.o.audit.feed?.lastSerial ?? null,
      configChanges: (since) => this.o.audit.feed?.configChanges(since) ?? null,
      attributionLosses: () => this.o.audit.feed?.attributionLosses() ?? null,
      written: () => this.publisher.notify(),
    });
    this.alerts = new AlertSender(this.ctx);
    // The publisher first, so that the start checkpoint is pushed with what was caught up.
    this.jobs = [
      this.publisher,
      this.reconciler,
      logs,
      new AnchorScheduler(this.ctx),
      this.housekeeping,
      writers,
      this.checkpointer,
      this.alerts,
      queries,
    ];

    // Watches first, then the start-up reconcile: a change made in between is seen by both,
    // never by neither.
    await this.sources.start();
    await this.ctx.serial(() => this.reconciler.catchUp());
    await this.ctx.serial(() =>
      this.event('watch-start', `trail watch started (${this.sourceLabel()})`, [
        `pid ${process.pid}; event source: ${this.sourceLabel()}`,
        'From here on every change is recorded within a quiet window of the change.',
      ]),
    );
    // That commit moved the head without a job hearing of it: the stat cache on disk would
    // stay one commit behind, and a command that scans instead of asking (a daemon killed
    // meanwhile, another version) would read every file again (50k files: 6.4 s, not 0.9).
    this.housekeeping.onCommit();
    running = true;
    // Before the start line: once it is logged, the tracked logs are taken in too.
    for (const j of this.jobs) await j.start();
    // From now on the policy's webhook alerts are queued for the sender, not sent under the lock.
    deliverInBackground(this.ctx.repo, () => this.alerts.poke());
    this.ctx.log('notice', 'start', `watching ${this.watched.dir} (${this.sourceLabel()})`, {
      dir: this.watched.dir,
      source: this.sources.kind() ?? 'none',
      watches: this.sources.watches(),
    });
  }

  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The last commits' alerts are sent by the commands' own path (at once, then queued).
    deliverInBackground(this.ctx.repo, undefined);
    for (const j of this.jobs) await j.stop(reason);
    await this.sources.close();
    await this.window.flushFinal();
    await this.ctx.serial(() =>
      this.event('watch-stop', `trail watch stopped (${reason})`, [
        `pid ${process.pid} stopped on ${reason}. Changes from now on are recorded when trail watch starts again, as changed while not watching.`,
      ]),
    );
    // A clean stop, after the last commit: the checkpoint names the final heads, and the
    // last push takes it off the host.
    await this.checkpointer.finish();
    await this.publisher.finish();
    await this.ctx.serial(() => this.housekeeping.flush());
    await this.audit.detach();
    this.ctx.log('notice', 'stop', `stopped watching ${this.watched.dir} (${reason})`, { reason });
    this.ctx.repo.close();
  }

  /** SIGCONT after a pause of about `ms`: said, checkpointed, and everything looked at again. */
  async resumed(ms: number): Promise<void> {
    if (this.stopped) return;
    this.ctx.log(
      'warning',
      'paused',
      `trail watch was paused for about ${Math.round(ms / 1000)} s (stopped by a signal, then continued): nothing watched ${this.watched.dir} meanwhile; a checkpoint says so, and everything is compared again`,
      { ms },
    );
    this.reconciler.request('trail watch was paused');
    await this.checkpointer.paused();
  }

  /** SIGHUP, or a command that changed the settings or the policy (the `reload` op): one at
   * a time, so that two never replace the event source together. */
  reload(): Promise<void> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next.catch(() => {});
    return next;
  }

  private async reloadNow(): Promise<void> {
    if (this.stopped) return;
    const before = this.config;
    const settings = await readSettings(this.ctx.repo);
    this.config = settings.config;
    // A stored setting not in force is said at each start and reload; its default runs meanwhile.
    for (const s of settings.invalid) this.ctx.log('warning', 'config', invalidLine(s), { key: s.key, why: s.why });
    this.window.reload();
    await this.sources.reload(before);
    for (const j of this.jobs) await j.reload?.();
    this.ctx.log(
      'info',
      'reload',
      `configuration reloaded (quiet ${quietMs(this.config)} ms, max delay ${maxDelayMs(this.config)} ms, reconcile every ${this.reconciler.everySeconds()} s, ${this.sourceLabel()})`,
    );
  }

  private sourceLabel(): string {
    return this.sources.label(this.reconciler.everySeconds());
  }

  /** The start and stop of watching, as empty commits: a gap in watching shows in the trail. */
  private async event(action: 'watch-start' | 'watch-stop', subject: string, body: string[]): Promise<void> {
    const { repo } = this.ctx;
    try {
      await this.ctx.withLock(repo, action, () =>
        record(repo, { subject, actor: invokingActor(), action, roots: [], allowEmpty: true, body }),
      );
    } catch (err) {
      this.ctx.log('error', 'event-failed', `could not record ${action}: ${(err as Error).message}`);
    }
  }
}
