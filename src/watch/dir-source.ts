import { lstatSync, readFileSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { joinPath } from '../util/bytes.js';
import { abs } from '../record/scanner.js';
import { isLimitError, WatchLimitError, type EventSource, type SourceOptions } from './source.js';

/**
 * One inotify watch per folder (fs.watch without `recursive`), not per file as chokidar does:
 * at 50k files in 4.3k folders that is 4.3k watches instead of 54k, and a fraction of the
 * memory. Events name the child that changed; names are read as bytes (latin1), so paths
 * that are not UTF-8 still trigger the right subtree.
 *
 * Watches follow inodes, not names: after a folder is moved, its old watches would report
 * under the old path, so every event that names a folder (created, moved, removed) drops the
 * watches under that path and watches the folder there now afresh.
 *
 * An overflowing inotify queue is told by the count of events, not by the kernel's own word:
 * libuv drops IN_Q_OVERFLOW (its watch descriptor is -1, which no handle owns), and every
 * event after it is lost for good. libuv reads the queue to its end in one turn of the event
 * loop, so a queue that overflowed arrives as one run of at least `max_queued_events` events;
 * a run of half that many already means the daemon fell far behind. Either way the source
 * says it may have missed events, and everything is reconciled: a false alarm costs one scan.
 */
export class DirSource implements EventSource {
  readonly kind = 'inotify' as const;
  private watchers = new Map<string, FSWatcher>();
  /** Files watched on their own (watchFiles), with the inode each watch follows. */
  private files = new Map<string, { w: FSWatcher; ino: number }>();
  private closed = false;
  private rootIno = 0;
  private rootPoll: NodeJS.Timeout | undefined;
  /** Events seen in this turn of the event loop, and the count that means a queue overflow. */
  private run = 0;
  private readonly queue = queueLimit();
  private readonly overflowAt = Math.max(1, Math.floor(this.queue / 2));

  constructor(private readonly opts: SourceOptions) {}

  watches(): number {
    return this.watchers.size + this.files.size;
  }

  /**
   * A file with a hard link outside the watched directory (or in an ignored folder) is
   * written through that link without a word to any folder watch here: the kernel tells the
   * inode's own watchers, and the watchers of the folder of the name written through. So such
   * a file gets a watch of its own (its inode's: it hears every write, through any name).
   * Returns the paths newly watched.
   */
  watchFiles(paths: string[]): string[] {
    const want = new Set(paths);
    const added: string[] = [];
    for (const [p, f] of this.files) {
      if (want.has(p) && lstatSync(abs(this.opts.root, p), { throwIfNoEntry: false })?.ino === f.ino) continue;
      f.w.close();
      this.files.delete(p);
    }
    for (const p of want) {
      if (this.closed || this.files.has(p)) continue;
      const file = abs(this.opts.root, p);
      const st = lstatSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) continue; // gone or replaced since the scan: its folder's watch said so
      let w: FSWatcher;
      try {
        w = watch(file, { persistent: true }, (type) => this.onFileEvent(p, type));
      } catch (err) {
        if (isLimitError(err)) {
          this.opts.events.limit(new WatchLimitError(this.watches(), (err as Error).message));
          break;
        }
        const code = (err as { code?: string }).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR')
          this.opts.events.lost(`cannot watch ${p} on its own: ${(err as Error).message}`);
        continue;
      }
      w.on('error', () => this.dropFile(p, w));
      this.files.set(p, { w, ino: st.ino });
      added.push(p);
    }
    return added;
  }

  private onFileEvent(path: string, type: string): void {
    if (this.closed) return;
    this.count();
    this.opts.events.touched([path]);
    // Removed or moved: the watch follows an inode this path no longer names.
    if (type === 'rename') this.dropFile(path, this.files.get(path)?.w);
  }

  private dropFile(path: string, w: FSWatcher | undefined): void {
    if (!w || this.files.get(path)?.w !== w) return;
    w.close();
    this.files.delete(path);
    this.opts.events.touched([path]);
  }

  async start(): Promise<void> {
    const st = lstatSync(this.opts.root);
    this.rootIno = st.ino;
    this.addTree('', true);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.rootPoll);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const f of this.files.values()) f.w.close();
    this.files.clear();
  }

  /** Watches `dir` and every folder below it; returns false once the watch limit stopped it. */
  private addTree(dir: string, throwOnLimit = false): boolean {
    const stack = [dir];
    while (stack.length) {
      const d = stack.pop()!;
      if (!this.addOne(d, throwOnLimit)) return false;
      let names: { name: Buffer; isDirectory(): boolean }[];
      try {
        names = readdirSync(abs(this.opts.root, d), { encoding: 'buffer', withFileTypes: true }) as unknown as {
          name: Buffer;
          isDirectory(): boolean;
        }[];
      } catch {
        continue; // gone or unreadable: the reconcile records what is there
      }
      for (const ent of names) {
        if (!ent.isDirectory()) continue;
        const child = joinPath(d, ent.name.toString('latin1'));
        if (!this.opts.rules.ignored(child)) stack.push(child);
      }
    }
    return true;
  }

  private addOne(dir: string, throwOnLimit: boolean): boolean {
    this.watchers.get(dir)?.close();
    this.watchers.delete(dir);
    let w: FSWatcher;
    try {
      w = watch(abs(this.opts.root, dir), { encoding: 'buffer', persistent: true }, (type, name) =>
        this.onEvent(dir, type, name as Buffer | null),
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return true;
      if (isLimitError(err)) {
        const e = new WatchLimitError(this.watchers.size, (err as Error).message);
        if (throwOnLimit) throw e;
        this.opts.events.limit(e);
        return false;
      }
      this.opts.events.lost(`cannot watch ${dir || '.'}: ${(err as Error).message}`);
      return true;
    }
    w.on('error', (err) => this.opts.events.lost(`watch on ${dir || '.'} failed: ${err.message}`));
    this.watchers.set(dir, w);
    return true;
  }

  private dropTree(dir: string): void {
    for (const [d, w] of this.watchers) {
      if (d === dir || dir === '' || d.startsWith(dir + '/')) {
        w.close();
        this.watchers.delete(d);
      }
    }
  }

  private onEvent(dir: string, type: string, name: Buffer | null): void {
    if (this.closed) return;
    this.count();
    if (!name) {
      this.opts.events.touched([dir]);
      return;
    }
    const path = joinPath(dir, name.toString('latin1'));
    // An event about the watched folder itself arrives on its own watch under its own name.
    if (dir === '' && name.toString('utf8') === basename(this.opts.root)) this.checkRoot();
    // Logs leave the content tree (ignored) but their writes are followed: reported too.
    if (this.opts.rules.ignored(path) && !this.opts.rules.log(path)) return;
    this.opts.events.touched([path]);
    if (type !== 'rename') return; // content or attributes: nothing to re-watch
    const st = lstatSync(abs(this.opts.root, path), { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      this.dropTree(path);
      this.addTree(path);
    } else if (this.watchers.has(path)) {
      this.dropTree(path);
    }
  }

  /** Counts the run of events this turn; setImmediate runs once libuv has read the queue to
   * its end. A run long enough to have overflowed the queue is said once, at its end. */
  private count(): void {
    if (this.run++ === 0)
      setImmediate(() => {
        const n = this.run;
        this.run = 0;
        if (n >= this.overflowAt && !this.closed)
          this.opts.events.lost(
            `${n} inotify events arrived at once, against a kernel queue of ${this.queue} ` +
              '(fs.inotify.max_queued_events): the queue may have overflowed',
          );
      });
  }

  /** The watched folder was changed, removed or replaced: watch it again when it is back. */
  private checkRoot(): void {
    const st = lstatSync(this.opts.root, { throwIfNoEntry: false });
    if (st?.isDirectory() && st.ino === this.rootIno) {
      this.opts.events.touched(['']);
      return;
    }
    this.dropTree('');
    this.opts.events.touched(['']);
    if (st?.isDirectory()) return this.rewatchRoot(st.ino);
    clearInterval(this.rootPoll);
    this.rootPoll = setInterval(() => {
      const now = lstatSync(this.opts.root, { throwIfNoEntry: false });
      if (!now?.isDirectory()) return;
      clearInterval(this.rootPoll);
      this.rewatchRoot(now.ino);
    }, 500);
  }

  private rewatchRoot(ino: number): void {
    if (this.closed) return;
    this.rootIno = ino;
    this.addTree('');
    this.opts.events.touched(['']);
  }
}

/** The kernel's inotify queue length per instance (16384 unless the host changed it). */
function queueLimit(): number {
  try {
    const n = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'latin1').trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // Not Linux's /proc: the default.
  }
  return 16_384;
}
