import { relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { toBytes } from '../util/bytes.js';
import { isLimitError, WatchLimitError, type EventSource, type SourceOptions } from './source.js';

/**
 * chokidar 5: portable (macOS FSEvents, BSDs, polling) and the fallback where per-folder
 * inotify is not available. On Linux it puts a watch on every file (52k watches and +452 MB
 * at 50k files), which is why it is not the default there.
 */
export class ChokidarSource implements EventSource {
  readonly kind = 'chokidar' as const;
  private watcher: FSWatcher | undefined;

  constructor(private readonly opts: SourceOptions) {}

  watches(): number {
    if (!this.watcher) return 0;
    let n = 0;
    for (const names of Object.values(this.watcher.getWatched())) n += names.length;
    return n;
  }

  async start(): Promise<void> {
    const rel = (p: string) => {
      const r = relative(this.opts.root, p);
      // chokidar hands out names decoded as UTF-8: one that was not UTF-8 is damaged, so
      // its folder (or, at the top, everything) is looked at instead.
      const bytes = toBytes(sep === '/' ? r : r.split(sep).join('/'));
      return r.includes('\uFFFD') ? '' : bytes;
    };
    const w = watch(this.opts.root, {
      ignoreInitial: true,
      followSymlinks: false,
      persistent: true,
      ignorePermissionErrors: true,
      ignored: (p: string) => {
        const r = rel(p);
        // Logs leave the content tree (ignored) but their writes are followed: watched too.
        return r !== '' && this.opts.rules.ignored(r) && !this.opts.rules.log(r);
      },
    });
    this.watcher = w;
    w.on('all', (_event: string, path: string) => this.opts.events.touched([rel(path)]));
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      w.on('ready', () => {
        ready = true;
        resolve();
      });
      w.on('error', (err: unknown) => {
        if (isLimitError(err)) {
          const e = new WatchLimitError(this.watches(), (err as Error).message);
          if (!ready) reject(e);
          else this.opts.events.limit(e);
        } else this.opts.events.lost(`chokidar: ${(err as Error).message}`);
      });
    });
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
