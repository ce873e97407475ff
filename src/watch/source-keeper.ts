import type { Config } from '../record/repo/settings.js';
import { recordingRules } from '../record/list/rules-loader.js';
import type { Rules } from '../record/list/rules.js';
import { display } from '../util/bytes.js';
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

/** The rules the source was started with, and the digest of all the scan's rules then. */
interface SourceRules {
  rules: Rules;
  digest: string;
}

/** A reload needs fresh watches when the watch limit may have been raised, the source
 * changed, or the rules that decide which paths are watched: the ignore and logs settings and
 * the policy's scan rules (`record` wins over an ignore, `log` takes a path out of the tree). */
export function needsNewSource(before: Config, after: Config, degraded: boolean, rules?: [Rules, Rules]) {
  if (degraded || JSON.stringify(before['watch.source']) !== JSON.stringify(after['watch.source'])) return true;
  if (!rules) return JSON.stringify(before.ignore) !== JSON.stringify(after.ignore);
  const [was, now] = rules.map((r) => JSON.stringify([r.spec[0], r.spec[2], r.spec[3]]));
  return was !== now;
}

/**
 * Keeps the event source of one watched directory: starts the configured one, drops to no
 * source (full reconciles only) when the kernel's watch limit is reached, and starts afresh
 * on a reload that needs it.
 */
export class SourceKeeper {
  private source: EventSource | undefined;
  private limit: WatchLimitError | undefined;
  private rules: SourceRules | undefined;
  /** The files to watch on their own (see DirSource.watchFiles), kept for a new source. */
  private files: string[] = [];

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
    // The scan's own rules, the policy's included: with the settings' alone, a path the policy
    // records although an ignore names it was never watched, and its changes never seen.
    this.rules = await recordingRules(ctx.repo, config);
    const opts = {
      root: ctx.watched.dir,
      rules: this.rules.rules,
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
    src.watchFiles?.(this.files);
    ctx.log('info', 'source', `${src.kind}: ${src.watches()} watches in place in ${Date.now() - t0} ms`, {
      source: src.kind,
      watches: src.watches(),
      ms: Date.now() - t0,
    });
  }

  /** What the last whole scan found linked from outside the tree (Reader.linkedOutside): each
   * such file is watched on its own; one newly found is said, once. */
  watchFiles(paths: string[]): void {
    this.files = paths;
    const added = this.source?.watchFiles?.(paths) ?? [];
    for (const p of added)
      this.ctx.log(
        'notice',
        'outside-link',
        `${display(p)} has a hard link outside ${this.ctx.watched.dir} (or in an ignored folder): watched on its own, since writes through that link reach no folder watch`,
        { path: display(p) },
      );
  }

  /** Whether the scan records `path` as content (not ignored, not a log). */
  records(path: string): boolean {
    const r = this.rules?.rules;
    return !!r && !r.ignored(path) && !r.log(path);
  }

  /** One more file to watch on its own (a hard link made to it, audit says), until the next
   * whole scan says which there are. */
  watchMore(path: string): void {
    if (!this.files.includes(path)) this.watchFiles([...this.files, path]);
  }

  /** SIGHUP: fresh watches when needed; what happened while they were being replaced is
   * found by the reconcile that follows. */
  async reload(before: Config): Promise<void> {
    const was = this.rules;
    const now = await recordingRules(this.ctx.repo, this.ctx.config());
    if (!needsNewSource(before, this.ctx.config(), this.degraded, was && [was.rules, now.rules])) {
      this.rules = now;
      // Rules that record untouched files otherwise (a path named a secret, in the settings or
      // the policy; a new size limit; logs): no event will come for those files.
      if (was?.digest !== now.digest) this.events.lookEverywhere('the recording rules changed');
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
