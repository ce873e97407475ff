import { setFlagsFromString } from 'node:v8';
import type { AnswerRenderer } from '../host/watcher-socket.js';
import { listWatched, type Watched } from '../host/registry.js';
import { Repo } from '../record/repo/repo.js';
import { keepCacheInMemory } from '../record/model/stat-cache.js';
import { keepXattrsInMemory, runXattrsWith } from '../record/read/xattrs.js';
import { Exit, TrailError } from '../util/errors.js';
import type { AuditFeed } from '../attribute/audit-feed.js';
import { runStatusWith } from '../attribute/auditctl.js';
import { Spawner } from '../attribute/spawner.js';
import type { Log } from './log.js';
import type { SourceKind } from './source.js';
import type { WithLock } from './job.js';
import { lockIfAsked, setupAudit, type AuditSetup } from './audit-setup.js';
import { RepoWatcher } from './repo-watcher.js';
import { compactHeap } from './housekeeping.js';
import { holdWatchLock } from './watch-lock.js';

export type { WithLock } from './job.js';

export interface DaemonOptions {
  /** Watched names; empty = every watched directory of the host. */
  names: string[];
  /** Overrides watch.source. */
  source?: 'auto' | SourceKind;
  log: Log;
  withLock: WithLock;
  /** Who-data from Linux audit, shared by every watched directory (src/attribute); started
   * here when not given. */
  audit?: AuditFeed;
  /** Why there is none, for the commits that then say "unknown". */
  auditMissing?: string;
  /** Renders status and snapshot answers for the native front (src/cli/front); without it,
   * the front's questions are declined and it hands over to the Node.js command. */
  render?: AnswerRenderer;
}

/**
 * The switches that make this process a long-lived daemon rather than a one-shot command,
 * set here and nowhere else, once, before any watcher starts:
 * - the stat cache and the xattrs read stay in memory between windows (a command reads them
 *   from disk once and exits; the daemon would re-read them for every window);
 * - getfattr and `auditctl -s`, which run for every window, are started by one long-lived
 *   shell (the Spawner) instead of by forking this large process each time;
 * - repositories keep their cat-file processes and pack indexes open (Repo.longLived);
 * - gc() is exposed to housekeeping, which compacts the heap once the daemon is quiet
 *   (housekeeping.ts says why);
 * - the heap grows by 20% between full collections, not by V8's default factor (up to 2× and
 *   more for a fast collector): a whole reconcile of 200k files, the start-up one, peaked at
 *   ~480 MB RSS with the default and ~370–390 MB so (≤ 400 MB is the target), for ~1.3 s
 *   more CPU over its ~5 s, paid at start-up and at each whole reconcile (hourly by default).
 * stop() undoes what would outlive the daemon in this process (the spawner, the runners).
 */
function becomeDaemon(): Spawner {
  keepCacheInMemory(true);
  keepXattrsInMemory(true);
  const spawner = new Spawner();
  runXattrsWith(spawner.run);
  runStatusWith(spawner.run);
  Repo.longLived = true;
  setFlagsFromString('--expose-gc');
  setFlagsFromString('--heap-growing-percent=20');
  return spawner;
}

/** `trail watch`: every watched directory (or the named ones), each with its own watcher. */
export class Daemon {
  private watchers = new Map<string, RepoWatcher>();
  /** The watch lock of each directory watched here (watch-lock.ts): its release. */
  private held = new Map<string, () => Promise<void>>();
  private spawner: Spawner | undefined;
  private audit: AuditSetup | undefined;
  /** Set once audit is locked (by this daemon or before it): no further attempt. */
  private auditLocked = false;

  constructor(private readonly opts: DaemonOptions) {}

  async start(): Promise<void> {
    this.spawner = becomeDaemon();
    // The watch locks first: a directory another trail watch has is refused before this one
    // sets up audit rules or writes anything.
    const picked = await this.hold(await this.pick(), !!this.opts.names.length, true);
    this.audit = this.opts.audit
      ? { feed: this.opts.audit }
      : this.opts.auditMissing
        ? { missing: this.opts.auditMissing }
        : await setupAudit(picked, this.opts.log);
    for (const w of picked) await this.startOne(w, !!this.opts.names.length);
    if (!this.watchers.size) throw new TrailError('no watched directory could be watched', Exit.error);
    await this.lockAuditIfAsked(picked);
    compactHeap();
  }

  async stop(reason: string): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.stop(reason)));
    this.watchers.clear();
    await this.release([...this.held.keys()]);
    await this.audit?.feed?.close().catch(() => undefined);
    runXattrsWith(undefined);
    runStatusWith(undefined);
    this.spawner?.close();
  }

  /** SIGCONT: this process was stopped (SIGSTOP, SIGTSTP) for about `ms` and goes on. */
  async resumed(ms: number): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.resumed(ms)));
  }

  /** SIGHUP: settings again, and directories initialized or forgotten since the start. */
  async reload(): Promise<void> {
    const wanted = await this.pick();
    for (const [name, w] of this.watchers) {
      if (!wanted.some((x) => x.name === name)) {
        await w.stop('no longer watched');
        this.watchers.delete(name);
        await this.release([name]);
      }
    }
    for (const w of wanted) {
      const running = this.watchers.get(w.name);
      if (running) await running.reload();
      else if ((await this.hold([w], false)).length) await this.startOne(w, false);
    }
    // attribute.lockAudit set since the start: locked now that every rule is in.
    await this.lockAuditIfAsked(wanted);
  }

  /** attribute.lockAudit: after every watched directory's rules are in (audit-setup.ts). */
  private async lockAuditIfAsked(watched: Watched[]): Promise<void> {
    if (this.auditLocked || !this.audit) return;
    const r = await lockIfAsked(watched, new Set(this.watchers.keys()), this.audit, this.opts.log);
    this.auditLocked = r === 'lock' || r === 'already';
  }

  private async startOne(w: Watched, mustWork: boolean): Promise<void> {
    const rw = new RepoWatcher(w, {
      source: this.opts.source,
      log: this.opts.log,
      withLock: this.opts.withLock,
      audit: this.audit ?? { missing: 'audit was not set up' },
      render: this.opts.render,
    });
    try {
      await rw.start();
      this.watchers.set(w.name, rw);
    } catch (err) {
      await this.release([w.name]);
      if (mustWork) throw err;
      this.opts.log.write('error', 'start-failed', `${w.name}: cannot watch ${w.dir}: ${(err as Error).message}`, {
        name: w.name,
      });
    }
  }

  /** Takes the watch lock of each directory: those held are returned. One another trail watch
   * holds is an error when it was named, or when it leaves this daemon nothing to watch, and
   * otherwise is said and left to the other. */
  private async hold(watched: Watched[], mustWork: boolean, atStart = false): Promise<Watched[]> {
    const got: Watched[] = [];
    const refused: unknown[] = [];
    for (const w of watched) {
      try {
        this.held.set(w.name, await holdWatchLock(w.repo, w.name));
        got.push(w);
      } catch (err) {
        refused.push(err);
        if (mustWork) {
          await this.release(got.map((g) => g.name));
          throw err;
        }
        this.opts.log.write('error', 'start-failed', `${w.name}: ${(err as Error).message}`, { name: w.name });
      }
    }
    // At start, every one refused (`trail watch` beside the service): said as the refusal it is.
    if (atStart && refused.length && !got.length) throw refused[0];
    return got;
  }

  private async release(names: string[]): Promise<void> {
    for (const n of names) {
      await this.held.get(n)?.();
      this.held.delete(n);
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
