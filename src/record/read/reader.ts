import { readlinkSync } from 'node:fs';
import { errorCode } from '../../util/errors.js';
import { userName, groupName } from '../../util/accounts.js';
import { kindOfStat, recordedAs, splitDev, type Meta } from '../model/meta.js';
import { sameStat, type Entry, type State, type StatKey } from '../model/state.js';
import type { ObjectWriter } from '../store/object-writer.js';
import type { ListingWithThreads } from '../list/lister.js';
import { abs, reasonOf, type Listed } from '../list/walker.js';
import { FileSaver, type Saved, type SaveOptions } from './file-saver.js';
import type { Rules } from '../list/rules.js';
import { PoolFeeder } from './pool-feeder.js';
import { SecretCopies } from './secret-copies.js';
import { ReadPool, threadsAllowed, type ReadMode } from './read-pool.js';

export interface ReadOptions extends SaveOptions {
  /** The last recorded state; entries whose stat data still match are reused as they are. */
  previous: State;
  /** Re-read every file even when its stat data match (an attacker can restore mtimes). */
  full?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Reader threads: by default used when many files are to be read (see POOL_FILES); true
   * always, false never. */
  threads?: boolean;
}

/** What reading a listing made: the new entries (in `state`) and counts. */
export interface ReadTally extends Saved {
  /** Files whose content was read (the rest were trusted on stat data). */
  read: number;
  files: number;
  dirs: number;
  bytes: number;
  /** Files listed with hard links that were not (see Reader.linkedOutside). */
  linkedOutside: string[];
}

/** Reader threads pay off from about this many files and bytes to read (a thread takes
 * ~50 ms of CPU to start; measured: at 3k files / 25 MB they cost more than they saved); below
 * it, and for the watcher's few touched paths, this thread reads. TRAIL_READ_THREADS=always
 * (tests) or never overrides. */
const POOL_FILES = 400;
const POOL_BYTES = 48 * 1024 * 1024;

/**
 * Makes the entry of each listed path in `state`: the recorded one when its stat data still
 * match (same inode, size, mtime, ctime), else a new one, its content read and stored. Many
 * files to read (a first snapshot, status --full): reader threads read, hash and deflate them
 * while this thread goes on; their answers are applied in listing order.
 */
export async function readListing(
  opts: ReadOptions,
  listing: ListingWithThreads,
  state: State,
  /** `previous` was recorded under other rules, or unknown ones: see Reader.recordedAlike. */
  recheck = false,
): Promise<ReadTally> {
  const tally: ReadTally = {
    state,
    skipped: listing.skipped,
    digestOnly: [],
    asSecrets: [],
    fresh: [],
    moved: [],
    read: 0,
    files: 0,
    dirs: 0,
    bytes: 0,
    linkedOutside: [],
  };
  const plan = planRead(opts, listing);
  const copies = plan.toRead ? new SecretCopies(opts.previous) : undefined;
  for (const size of plan.secretSizes) copies?.willRead(size);
  const saver = new FileSaver(opts, tally, secretLinks(listing, opts.rules), copies);
  const pool = await readerThreads(opts, listing, plan);
  const reader = new Reader(
    opts,
    listing,
    tally,
    saver,
    pool && new PoolFeeder(pool, (...a) => saver.applyAnswers(...a)),
    recheck,
  );
  try {
    let done = 0;
    for (const [path, st] of listing.listed) {
      opts.onProgress?.(++done, listing.listed.length);
      await reader.read(path, st);
    }
    await reader.feeder?.drain();
    await copies?.settle(opts.writer, tally.asSecrets);
    tally.linkedOutside = reader.linkedOutside();
  } finally {
    await reader.feeder?.close();
  }
  return tally;
}

/**
 * Per inode with several links, the first of its paths listed that is a secret by the rules:
 * each of its links is recorded as a secret too (file-saver.ts). Looked for in the whole
 * listing before anything is read, as a link may be listed before its secret. A scan under
 * roots that touch a hard-link group is widened to the whole tree (snapshot.ts, touchesLinks),
 * so the secret is always among what is listed. One test of nlink per file: the rules are
 * matched only for the rare files with other links.
 */
function secretLinks(listing: ListingWithThreads, rules: Rules): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, st] of listing.listed) {
    if (st.nlink < 2 || !st.isFile() || !rules.secret(path)) continue;
    const id = `${st.dev}:${st.ino}`;
    if (!out.has(id)) out.set(id, path);
  }
  return out;
}

/** What is to be read: files whose stat data do not match, their bytes (over maxFileSize
 * only digested), and the sizes of the secrets among them (by their path: a copy of one read
 * before it is found by its size, see secret-copies.ts). The rules are matched only for the
 * files to be read, which the reader matches anyway. */
function planRead(
  opts: ReadOptions,
  listing: ListingWithThreads,
): { toRead: number; toReadBytes: number; secretSizes: Set<number> } {
  let toRead = 0;
  let toReadBytes = 0;
  const secretSizes = new Set<number>();
  for (const [path, st] of listing.listed) {
    if (!st.isFile()) continue;
    const prev = opts.previous.get(path);
    if (opts.full || !prev || !sameStat(prev.stat, st)) {
      toRead++;
      if (st.size <= opts.maxFileSize) toReadBytes += st.size;
      if (opts.rules.secret(path)) secretSizes.add(st.size);
    }
  }
  return { toRead, toReadBytes, secretSizes };
}

/** The listing's reader threads, or a new pool, when enough is to be read for threads to pay
 * off (the listing's are closed otherwise). Tells the writer how much content comes. */
async function readerThreads(
  opts: ReadOptions,
  listing: ListingWithThreads,
  { toRead, toReadBytes }: { toRead: number; toReadBytes: number },
): Promise<ReadPool | undefined> {
  opts.writer.expect?.(toReadBytes);
  const usePool = threadsAllowed(opts) ?? (toRead >= POOL_FILES && toReadBytes >= POOL_BYTES);
  if (!usePool || toRead === 0) {
    await listing.threads?.close();
    return undefined;
  }
  const pool = listing.threads ?? new ReadPool(readMode(opts.writer));
  pool.mode = readMode(opts.writer);
  pool.key = opts.secretKey;
  pool.level = opts.writer.entryLevel ?? 0; // expect() may have chosen it just now
  return pool;
}

function readMode(w: ObjectWriter): ReadMode {
  return w.hashOnly ? 'hash' : w.writeEntries ? 'pack' : 'raw';
}

/** The entry of one listed path after another. */
class Reader {
  /** Per inode with several links: the first path listed (the others record it as `link`),
   * how many of its paths were listed, and its link count. */
  private readonly links = new Map<string, { first: string; listed: number; nlink: number }>();

  constructor(
    private readonly opts: ReadOptions,
    private readonly listing: ListingWithThreads,
    private readonly tally: ReadTally,
    private readonly saver: FileSaver,
    readonly feeder: PoolFeeder | undefined,
    private readonly recheck: boolean,
  ) {}

  async read(path: string, st: Listed): Promise<void> {
    const kind = kindOfStat(st);
    this.count(kind, st);
    const link = kind === 'file' && st.nlink > 1 ? this.linkOf(path, st) : undefined;
    const prev = this.opts.previous.get(path);
    // Same inode, size, mtime and ctime: nothing about the path changed (chmod, chown,
    // xattrs and new hard links all move ctime), so the recorded entry stands — without even
    // parsing its metadata. Skipped entries keep no stat data and never match, and a folder
    // that cannot be listed now (an I/O error moves no stat data) is said to be skipped.
    if (
      prev &&
      !this.opts.full &&
      sameStat(prev.stat, st) &&
      (st.nlink === 1 || kind !== 'file' || prev.meta.link === link) &&
      (!this.recheck || this.recordedAlike(path, st, prev)) &&
      (kind !== 'dir' || !this.listing.unlistable.has(path))
    ) {
      this.tally.state.set(path, prev);
      return;
    }
    const entry = this.newEntry(path, st, kind, link);
    if (kind === 'file' && this.feeder && !this.listing.unlistable.has(path)) {
      this.tally.read++;
      this.tally.state.set(path, entry);
      await this.feeder.add({ path, entry }, this.saver.job(path, st), st.size);
      return;
    }
    await this.readHere(path, st, entry);
  }

  /** Whether these rules record the unchanged file as `prev` was recorded: by digest only (too
   * big, or a hash-only path), or as a secret by its path (keyed, by digest only too). One
   * recorded as a secret that these rules do not name is read again: it may be one by content
   * (a PEM private key). */
  private recordedAlike(path: string, st: Listed, prev: Entry): boolean {
    const was = recordedAs(prev);
    if (was.kind !== 'file') return true;
    const { rules, maxFileSize } = this.opts;
    const digest = rules.hashOnly(path) || st.size > maxFileSize;
    return was.digest === digest && was.secret === this.saver.isSecret(path, st);
  }

  private count(kind: Meta['kind'], st: Listed): void {
    if (kind === 'dir') this.tally.dirs++;
    if (kind === 'file') {
      this.tally.files++;
      this.tally.bytes += st.size;
    }
  }

  /** For a file with several links: the first path listed of its inode, if not this one. */
  private linkOf(path: string, st: Listed): string | undefined {
    const id = `${st.dev}:${st.ino}`;
    const g = this.links.get(id);
    if (g === undefined) {
      this.links.set(id, { first: path, listed: 1, nlink: st.nlink });
      return undefined;
    }
    g.listed++;
    return g.first;
  }

  /** Per file with links that were not listed (outside the watched directory, or ignored),
   * the first of its paths that was. */
  linkedOutside(): string[] {
    const out: string[] = [];
    for (const g of this.links.values()) if (g.listed < g.nlink) out.push(g.first);
    return out;
  }

  private newEntry(path: string, st: Listed, kind: Meta['kind'], link: string | undefined): Entry {
    const meta: Meta = metaOfStat(st, kind);
    if (link !== undefined) meta.link = link;
    if (this.listing.unlistable.has(path)) {
      // Skipped, so no stat data: with them the folder would match at the next scan and never
      // be looked at again.
      meta.skipped = this.listing.skipped.find((s) => s.path === path)?.reason ?? 'cannot list';
      return { meta };
    }
    // The stat key is made only for an entry made anew (54k objects less for a status). It
    // stays the listing's, whose lstat `meta` comes from (see FileSaver.keepListedStat).
    const key: StatKey = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
    return { meta, stat: key };
  }

  /** Reads on this thread: a file (few to read), a symlink's target, a device's numbers. */
  private async readHere(path: string, st: Listed, entry: Entry): Promise<void> {
    const meta = entry.meta;
    try {
      if (meta.kind === 'file') {
        this.tally.read++;
        await this.saver.save(path, st, entry);
        if (meta.digest !== undefined) this.tally.digestOnly.push(path);
      } else if (meta.kind === 'symlink') {
        entry.oid = await this.opts.writer.write(
          'blob',
          readlinkSync(abs(this.opts.root, path), { encoding: 'buffer' }),
        );
      } else if (meta.kind === 'char' || meta.kind === 'block') {
        meta.rdev = splitDev(st.rdev);
      }
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return; // gone since it was listed: it is simply not there
      meta.skipped = reasonOf(err, 'cannot read');
      delete entry.oid;
      delete entry.stat; // try again next time
    }
    if (meta.skipped && !this.listing.unlistable.has(path)) this.tally.skipped.push({ path, reason: meta.skipped });
    this.tally.state.set(path, entry);
    this.tally.fresh.push(path);
  }
}

/** The metadata a path's stat data give (xattrs, content and link come after). */
function metaOfStat(st: Listed, kind: Meta['kind']): Meta {
  const meta: Meta = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  const user = userName(st.uid);
  const group = groupName(st.gid);
  if (user !== undefined) meta.user = user;
  if (group !== undefined) meta.group = group;
  if (kind === 'file') meta.size = st.size;
  if (kind !== 'dir') meta.mtime = st.mtimeMs;
  return meta;
}
