import type { Config } from '../record/repo/settings.js';
import type { Repo } from '../record/repo/repo.js';
import type { Watched } from '../host/registry.js';
import type { Level } from './log.js';

/** Runs `fn` as the repository's one writer (the CLI passes asWriter: lock, then finish an
 * interrupted revert). Taken per commit and never while idle, so that `trail snapshot` and
 * `trail revert` work while the daemon runs. */
export type WithLock = <T>(repo: Repo, purpose: string, fn: () => Promise<T>) => Promise<T>;

/**
 * What every piece of a RepoWatcher is given: one watched directory, its repository, its
 * settings as they are now (SIGHUP reloads them), the daemon's log, the writer lock and the
 * one write queue. Pieces get this and nothing of each other; what they produce they return
 * or report through the callbacks the RepoWatcher wires, never by writing into shared options.
 */
export interface WatchContext {
  readonly watched: Watched;
  readonly repo: Repo;
  /** The settings now (replaced on reload: read it again, do not keep it). */
  config(): Config;
  log(level: Level, event: string, msg: string, fields?: Record<string, unknown>): void;
  withLock: WithLock;
  /** One write at a time per repository, in order; a failure does not stop the ones after. */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** true once the watcher is stopping: no new work is started. */
  stopped(): boolean;
}

/** A commit the watcher made on refs/heads/observed (a window, the start-up or a periodic
 * reconcile, a `trail snapshot` it was asked for); what the jobs that follow commits (anchoring, housekeeping) react to. */
export interface CommitMade {
  commit: string;
  changes: number;
  action: 'watch' | 'watch-gap' | 'watch-reconcile' | 'snapshot';
}

/**
 * A job that runs beside recording: the reconcile loop, the log follower, the anchoring
 * scheduler, housekeeping — and later a publisher (push new commits) or a checkpointer (a
 * signed heartbeat commit). The RepoWatcher starts every job after the start-up reconcile,
 * tells each about every commit, reloads them on SIGHUP and stops them first when stopping
 * (a job clears its timers there; a final write goes through ctx.serial). See README.md here.
 */
export interface Job {
  readonly name: string;
  start(): void | Promise<void>;
  stop(reason: string): void | Promise<void>;
  onCommit?(c: CommitMade): void;
  reload?(): void | Promise<void>;
}
