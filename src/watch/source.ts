import type { Rules } from '../record/list/rules.js';

/**
 * An event source only says where to look. What is recorded is decided by reconciling those
 * paths against the trail, so a missed, reordered or duplicated event can never make a wrong
 * commit; what a source misses entirely is caught by the periodic full reconcile.
 */
export interface SourceEvents {
  /** Paths (byte strings relative to the watched dir; '' = all) that may have changed. */
  touched(paths: string[]): void;
  /** The source may have missed events (queue overflow, watcher error): look everywhere. */
  lost(reason: string): void;
  /** The kernel's watch limit was reached: this source cannot see everything any more. */
  limit(err: WatchLimitError): void;
}

export interface EventSource {
  readonly kind: SourceKind;
  /** Resolves once every watch is in place: a change after that is seen. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Kernel watches held. */
  watches(): number;
  /** Watches these files on their own (they have hard links no folder watch sees), instead
   * of those of the last call. Sources that watch every file need not. */
  watchFiles?(paths: string[]): string[];
}

export type SourceKind = 'inotify' | 'chokidar';

export interface SourceOptions {
  /** The watched directory, absolute. */
  root: string;
  rules: Rules;
  events: SourceEvents;
}

export class WatchLimitError extends Error {
  constructor(
    readonly watched: number,
    cause: string,
  ) {
    super(
      `the kernel's limit of inotify watches was reached after ${watched} watches (${cause}); ` +
        'raise it with: sysctl fs.inotify.max_user_watches=524288 ' +
        '(and persist it in /etc/sysctl.d/); until then trail falls back to periodic full reconciles',
    );
    this.name = 'WatchLimitError';
  }
}

export function isLimitError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (
    code === 'ENOSPC' || (err instanceof Error && /System limit for number of file watchers reached/.test(err.message))
  );
}
