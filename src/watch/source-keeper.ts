import { asList, type Config } from '../record/repo/settings.js';
import { makeRules } from '../record/list/rules.js';
import { Exit, TrailError, errorCode } from '../util/errors.js';
import { DirSource } from './dir-source.js';
import { WatchLimitError, type EventSource, type SourceKind } from './source.js';
import type { WatchContext } from './job.js';

export interface SourceEvents {
  /** Paths that may have changed (the event window, or the log follower for logs). */
  touched(paths: string[]): void;
  /** Events may have been missed, or watches were replaced: look at everything. */
  lookEverywhere(why: string): void;
  /** The watch limit was reached, the source is gone: the reconcile loop must run often now
   * (and, once the start-up reconcile ran, look now). */
  degraded(): void;
  /** How often the reconcile loop runs, for the watch-limit message. */
  reconcileSeconds(): number;
}

/** Which source a setting picks: inotify on Linux, chokidar (the portable fallback) elsewhere. */
export function sourceKind(setting: string, platform: NodeJS.Platform = process.platform): SourceKind {
  return setting === 'chokidar' || (setting === 'auto' && platform !== 'linux') ? 'chokidar' : 'inotify';
}

/** A reload needs fresh watches when the watch limit may have been raised, or the source or
 * the ignore rules changed. */
export function needsNewSource(before: Config, after: Config, degraded: boolean) {
  return degraded || changed(before, after, 'watch.source') || changed(before, after, 'ignore');
}

/** A reload whose settings record untouched files otherwise (a path named a secret, a new
 * size limit, logs taken out of the tree or put back) needs the whole tree looked at: no
 * event will come for those files. */
export function recordsOtherwise(before: Config, after: Config) {
  return ['secrets', 'snapshot.maxFileSize', 'logs.paths'].some((k) => changed(before, after, k));
}

const changed = (before: Config, after: Config, k: string) => JSON.stringify(before[k]) !== JSON.stringify(after[k]);

/**
 * Keeps the event source of one watched directory: starts the configured one, drops to no
 * source (full reconciles only) when the kernel's watch limit is reached, and starts afresh
 * on a reload that needs it.
 */
export class SourceKeeper {
  private source: EventSource | undefined;
  private limit: WatchLimitError | undefined;

  constructor(
    private readonly ctx: WatchContext,
    /** --source on the command line; overrides watch.source. */
    private readonly override: 'auto' | SourceKind | undefined,
    private readonly events: SourceEvents,
  ) {}

  get degraded(): boolean {
    return !!this.limit;
  }

  kind(): SourceKind | undefined {
    return this.source?.kind;
  }

  watches(): number {
    return this.source?.watches() ?? 0;
  }

  /** For log lines: the source and its watches, or why there is none. */
  label(reconcileSeconds: number): string {
    if (this.limit || !this.source) return `no event source: full reconcile every ${reconcileSeconds} s`;
    return `${this.source.kind}, ${this.source.watches()} watches`;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const config = ctx.config();
    const kind = sourceKind(String(this.override ?? config['watch.source'] ?? 'auto'));
    const opts = {
      root: ctx.watched.dir,
      rules: makeRules(asList(config.ignore), asList(config.secrets), [], asList(config['logs.paths'])),
      events: {
        touched: (paths: string[]) => {
          if (!ctx.stopped()) this.events.touched(paths);
        },
        lost: (reason: string) => {
          ctx.log('warning', 'lost', `events may have been missed (${reason}); reconciling everything`);
          this.events.lookEverywhere('events may have been missed');
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
          `${ctx.watched.dir} does not exist: cannot watch ${ctx.watched.name}`,
          Exit.error,
          `recreate it, or stop watching it with: trail forget ${ctx.watched.name}`,
        );
      throw err;
    }
    if (ctx.stopped()) return void (await src.close());
    this.source = src;
    ctx.log('info', 'source', `${src.kind}: ${src.watches()} watches in place in ${Date.now() - t0} ms`, {
      source: src.kind,
      watches: src.watches(),
      ms: Date.now() - t0,
    });
  }

  /** SIGHUP: fresh watches when needed; what happened while they were being replaced is
   * found by the reconcile that follows. */
  async reload(before: Config): Promise<void> {
    if (!needsNewSource(before, this.ctx.config(), this.degraded)) {
      if (recordsOtherwise(before, this.ctx.config())) this.events.lookEverywhere('the recording rules changed');
      return;
    }
    await this.close();
    this.limit = undefined;
    await this.start();
    this.events.lookEverywhere('config reloaded');
  }

  async close(): Promise<void> {
    const src = this.source;
    this.source = undefined;
    await src?.close();
  }

  private enterDegraded(err: WatchLimitError): void {
    if (this.limit || this.ctx.stopped()) return;
    this.limit = err;
    void this.close();
    this.ctx.log('error', 'watch-limit', `${err.message} (every ${this.events.reconcileSeconds()} s)`, {
      sysctl: 'fs.inotify.max_user_watches',
    });
    this.events.degraded();
  }
}
