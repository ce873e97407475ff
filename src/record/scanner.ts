import { constants as C, lstatSync, readlinkSync } from 'node:fs';
import { byteCompare } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';
import { userName, groupName } from '../util/accounts.js';
import { kindOfStat, splitDev, type Meta } from './model/meta.js';
import type { ObjectWriter } from './store/object-writer.js';
import { looksLikePrivateKey, type Rules } from './list/rules.js';
import { placeholder, secretDigest } from './read/secrets.js';
import { readStable } from './read/file-reader.js';
import { ReadPool, type ReadJob, type ReadMode, type ReadOutcome, type WalkJob } from './read/read-pool.js';
import { insideAny } from './list/roots.js';
import { LayeredState } from './model/layered.js';
import { sameStat, type Entry, type State, type StatKey } from './model/state.js';
import { readTreeXattrs, readXattrs } from './read/xattrs.js';
import { phase } from '../util/timing.js';
import {
  abs,
  emptyListing,
  LSTAT,
  LSTAT_FIELDS,
  namesIn,
  packingListing,
  reasonOf,
  unpackListing,
  walk,
  walkNames,
  type Listed,
  type Listing,
  type PackedListing,
  type Skipped,
} from './list/walker.js';
import type { StatIndex } from './model/stat-cache.js';

export interface ScanOptions {
  /** The watched directory, absolute. */
  root: string;
  rules: Rules;
  /** The last recorded state; entries whose stat data still match are reused as they are. */
  previous: State;
  /** Re-read every file even when its stat data match (an attacker can restore mtimes). */
  full?: boolean;
  writer: ObjectWriter;
  secretKey: Buffer;
  maxFileSize: number;
  /** Look only at these subtrees (byte strings; '' = everything). Paths of `previous`
   * outside them are kept as they were. */
  roots?: string[];
  onProgress?: (done: number, total: number) => void;
  /** Reader threads: by default used when many files are to be read (see POOL_FILES); true
   * always, false never. */
  threads?: boolean;
  /** The listing, started by the caller (list()) before it loaded `previous`, so that the
   * threads walk while this thread loads. */
  listing?: Promise<ListingWithThreads>;
}

export { abs, type Skipped };

export interface ScanResult {
  state: State;
  skipped: Skipped[];
  /** Files read now that were larger than maxFileSize: recorded by digest, content not kept. */
  digestOnly: string[];
  ignored: number;
  /** Files whose content was read (the rest were trusted on stat data). */
  read: number;
  files: number;
  dirs: number;
  bytes: number;
  /** With roots: every path that may differ from `previous` (any other is its very entry). */
  looked?: string[];
}

/** Reader threads pay off from about this many files and bytes to read (a thread takes
 * ~50 ms of CPU to start; measured: at 3k files / 25 MB they cost more than they saved); below
 * it, and for the watcher's few touched paths, this thread reads. TRAIL_READ_THREADS=always
 * (tests) or never overrides. */
const POOL_FILES = 400;
const POOL_BYTES = 48 * 1024 * 1024;

function threadsAllowed(opts: Pick<ScanOptions, 'threads'>): boolean | undefined {
  const env = process.env.TRAIL_READ_THREADS;
  return opts.threads ?? (env === 'always' ? true : env === 'never' ? false : undefined);
}

function readMode(w: ObjectWriter): ReadMode {
  return w.hashOnly ? 'hash' : w.writeEntries ? 'pack' : 'raw';
}
/** A batch for a reader thread: few enough files to keep both threads fed, small enough
 * in bytes to bound what is in flight (two batches per thread). Each batch's answer is a
 * message (status --full at 50k: 64 files a batch was ~10% slower than 256). */
const BATCH_FILES = 256;
const BATCH_BYTES = 2 * 1024 * 1024;

/**
 * Walks the watched directory and produces the state to record. Each file is opened with
 * O_NOFOLLOW and checked to be the inode that was listed, so a path swapped for a symlink
 * (to /root/.ssh/id_rsa, say) is never read through; a file that changes while it is read
 * is read again, and recorded as skipped if it never holds still.
 */
export async function scan(opts: ScanOptions): Promise<ScanResult> {
  const roots = normalizeRoots(opts.roots ?? ['']);
  const { state, under } = keepOutside(opts.previous, roots);

  const { listed, skipped, unlistable, ignored, threads } = await (opts.listing ??
    list(opts, roots, opts.previous.size));
  let early = threads;
  phase(`listed ${listed.length}`);
  // Every entry will be made anew (a first snapshot, status --full): one getfattr over the
  // whole tree runs, in its own process, while the files are read.
  const treeXattrs =
    (opts.full || opts.previous.size === 0) && listed.length > XATTRS_WHOLE_TREE
      ? readTreeXattrs(opts.root)
      : undefined;
  treeXattrs?.catch(() => {});
  const firstLink = new Map<string, string>();
  const fresh: string[] = [];
  const digestOnly: string[] = [];
  let read = 0,
    files = 0,
    dirs = 0,
    bytes = 0,
    done = 0;

  // Many files to read (a first snapshot, status --full): reader threads read, hash and
  // deflate them while this thread goes on walking; results are applied in listing order.
  let toRead = 0;
  let toReadBytes = 0;
  for (const [path, st] of listed) {
    if (!st.isFile()) continue;
    const prev = opts.previous.get(path);
    if (opts.full || !prev || !sameStat(prev.stat, st)) {
      toRead++;
      if (st.size <= opts.maxFileSize) toReadBytes += st.size;
    }
  }
  opts.writer.expect?.(toReadBytes);
  const usePool = threadsAllowed(opts) ?? (toRead >= POOL_FILES && toReadBytes >= POOL_BYTES);
  let pool: ReadPool | undefined;
  if (usePool && toRead > 0) {
    pool = early ?? new ReadPool(readMode(opts.writer));
    pool.mode = readMode(opts.writer);
    pool.level = opts.writer.entryLevel ?? 0; // expect() may have chosen it just now
  } else await early?.close();
  type Item = { path: string; entry: Entry };
  const inflight: { items: Item[]; outcome: Promise<{ outcomes: ReadOutcome[]; release: () => void }> }[] = [];
  let batch: { items: Item[]; jobs: ReadJob[]; bytes: number } = { items: [], jobs: [], bytes: 0 };
  const applyOldest = async () => {
    const { items, outcome } = inflight.shift()!;
    const { outcomes: outs, release } = await outcome;
    const entries: { oid: string; entry: Buffer; crc: number }[] = [];
    for (let i = 0; i < items.length; i++) {
      const { path, entry } = items[i]!;
      const o = outs[i]!;
      const meta = entry.meta;
      if ('error' in o) {
        if (errorCode(o.error) === 'ENOENT') {
          state.delete(path);
          continue;
        }
        meta.skipped = reasonOf(o.error, 'cannot read');
        delete entry.oid;
        delete entry.stat;
      } else if ('skipped' in o) {
        meta.skipped = o.skipped;
      } else {
        entry.stat = o.stat;
        meta.size = o.stat.size;
        meta.mtime = o.stat.mtimeMs;
        if ('digest' in o) {
          meta.digest = o.digest;
          digestOnly.push(path);
        } else if ('secretContent' in o) {
          // Copies: the reply buffer is lent to the next batch once this one is written.
          await storeSecret(opts, entry, Buffer.from(o.secretContent));
        } else {
          entry.oid = o.oid;
          if (o.entry) entries.push({ oid: o.oid, entry: o.entry, crc: o.crc! });
          else if (o.content) await opts.writer.write('blob', Buffer.from(o.content));
        }
      }
      if (meta.skipped) skipped.push({ path, reason: meta.skipped });
      fresh.push(path);
    }
    if (entries.length) await opts.writer.writeEntries!(entries, release);
    else release();
  };
  const send = async () => {
    if (!batch.items.length) return;
    inflight.push({ items: batch.items, outcome: pool!.read(batch.jobs) });
    batch = { items: [], jobs: [], bytes: 0 };
    while (inflight.length > 2 * pool!.threads) await applyOldest();
  };

  try {
    for (const [path, st] of listed) {
      opts.onProgress?.(++done, listed.length);
      const kind = kindOfStat(st);
      const prev = opts.previous.get(path);
      if (kind === 'dir') dirs++;
      if (kind === 'file') {
        files++;
        bytes += st.size;
      }
      let link: string | undefined;
      if (kind === 'file' && st.nlink > 1) {
        const id = `${st.dev}:${st.ino}`;
        const first = firstLink.get(id);
        if (first === undefined) firstLink.set(id, path);
        else link = first;
      }
      // Same inode, size, mtime and ctime: nothing about the path changed (chmod, chown,
      // xattrs and new hard links all move ctime), so the recorded entry stands — without even
      // parsing its metadata. Skipped entries keep no stat data and never match.
      if (
        prev &&
        !opts.full &&
        sameStat(prev.stat, st) &&
        (st.nlink === 1 || kind !== 'file' || prev.meta.link === link)
      ) {
        state.set(path, prev);
        continue;
      }
      const meta: Meta = baseMeta(st, kind);
      if (link !== undefined) meta.link = link;
      // The stat key is made only for an entry made anew (54k objects less for a status).
      const key: StatKey = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
      const entry: Entry = { meta, stat: key };
      if (unlistable.has(path)) meta.skipped = skipped.find((s) => s.path === path)?.reason ?? 'cannot list';
      if (kind === 'file' && pool && !unlistable.has(path)) {
        read++;
        state.set(path, entry);
        batch.items.push({ path, entry });
        batch.jobs.push({
          file: abs(opts.root, path),
          ino: st.ino,
          dev: st.dev,
          maxSize: opts.rules.hashOnly(path) ? -1 : opts.maxFileSize,
          secret: opts.rules.secret(path),
        });
        batch.bytes += st.size;
        if (batch.items.length >= BATCH_FILES || batch.bytes >= BATCH_BYTES) await send();
        continue;
      }
      try {
        if (kind === 'file') {
          read++;
          await recordFile(opts, path, st, entry);
          if (meta.digest !== undefined) digestOnly.push(path);
        } else if (kind === 'symlink') {
          entry.oid = await opts.writer.write('blob', readlinkSync(abs(opts.root, path), { encoding: 'buffer' }));
        } else if (kind === 'char' || kind === 'block') {
          meta.rdev = splitDev(st.rdev);
        }
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue; // gone since it was listed: it is simply not there
        meta.skipped = reasonOf(err, 'cannot read');
        delete entry.oid;
        delete entry.stat; // try again next time
      }
      if (meta.skipped && !unlistable.has(path)) skipped.push({ path, reason: meta.skipped });
      state.set(path, entry);
      fresh.push(path);
    }
    if (pool) {
      await send();
      while (inflight.length) await applyOldest();
    }
  } finally {
    // A failure midway: the threads' answers still due are of no use any more.
    for (const f of inflight) f.outcome.catch(() => {});
    await pool?.close();
  }

  phase('read');
  await addXattrs(opts.root, state, fresh, listed.length, treeXattrs);
  // What could differ from `previous`: the paths it had under the roots and those listed now.
  const looked = roots.includes('') ? undefined : [...new Set([...under, ...listed.map(([p]) => p)])];
  return { state, skipped, digestOnly, ignored, read, files, dirs, bytes, looked };
}

export type ListingWithThreads = Listing & {
  threads?: ReadPool;
  /** Set, with nothing listed, when the tree matched the stat index it was given. */
  unchanged?: Unchanged;
};
export interface Unchanged {
  files: number;
  dirs: number;
  bytes: number;
}

/** From this many recorded paths, a whole-tree scan lists on the reader threads: the walk (one
 * readdir per folder, one lstat per path) was ~60% of `trail status` at 50k files, on one
 * core. */
export const LIST_THREADS_FROM = 8000;
/** Whether a whole-tree scan of about `expected` paths lists on the reader threads. */
export function listsOnThreads(expected: number, opts: Pick<ScanOptions, 'threads'> = {}): boolean {
  return threadsAllowed(opts) ?? expected >= LIST_THREADS_FROM;
}

/** Entry names per walk job for a thread: small enough that one huge folder does not leave
 * the other thread idle. */
const WALK_JOB_NAMES = 64;
/** A first snapshot's walk takes on a thread after this long (~10k paths). */
const JOIN_AFTER_MS = 100;

/**
 * Lists the tree under `roots` (`expected`: about how many paths it holds, 0 if unknown). A
 * whole big tree is shared out: this thread reads the top two levels of folders and makes
 * walk jobs of their entries, a run of names at a time, for the reader threads (`pool`, if
 * given) and itself; the answers are put together in listing order. Given a stat `index`, a
 * tree that matches it is reported `unchanged` instead of listed.
 */
export async function list(
  opts: Pick<ScanOptions, 'root' | 'rules' | 'threads'>,
  roots: string[],
  expected: number,
  index?: StatIndex,
  pool?: ReadPool,
): Promise<ListingWithThreads> {
  const l: ListingWithThreads = emptyListing();
  const ignored = opts.rules.ignored;
  const lstat = (p: string) => lstatSync(abs(opts.root, p), { throwIfNoEntry: false });
  const whole = roots.length === 1 && roots[0] === '';
  const rootStat = whole ? lstat('') : undefined;
  // How big a tree is, a first snapshot does not know: its walk takes on a thread once it
  // has gone on for a while (a small tree never starts one).
  const eager = listsOnThreads(expected, opts);
  const joinLater = !eager && expected === 0 && threadsAllowed(opts) !== false;
  if (!whole || !rootStat?.isDirectory() || !(eager || joinLater)) {
    for (const r of roots) {
      if (r !== '' && ignored(r)) continue;
      const st = r === '' ? (rootStat ?? lstat(r)) : lstat(r);
      if (st) walk(opts.root, ignored, l, r, st);
    }
    return l;
  }

  let threads = eager ? (l.threads = pool ?? new ReadPool('hash')) : undefined;
  // In listing order: what this thread lists itself (the top level), and the walk jobs.
  const parts: (Listing | WalkJob)[] = [l];
  const own = (path: string, st: Listed): Listing => {
    const part = emptyListing();
    part.listed.push([path, st]);
    parts.push(part);
    return part;
  };
  const top = namesIn(opts.root, '', l) ?? [];
  l.listed.push(['', rootStat]);
  for (const name of top) {
    if (ignored(name)) {
      l.ignored++;
      continue;
    }
    let st: Listed | undefined;
    try {
      st = lstat(name);
    } catch (err) {
      l.skipped.push({ path: name, reason: reasonOf(err, 'cannot look at') });
      continue;
    }
    if (!st) continue;
    const part = own(name, st);
    if (!st.isDirectory()) continue;
    const names = namesIn(opts.root, name, part);
    for (let i = 0; names && i < names.length; i += WALK_JOB_NAMES) {
      parts.push({ root: opts.root, parent: name, names: names.slice(i, i + WALK_JOB_NAMES), rules: opts.rules.spec });
    }
  }
  // The jobs go, in turn, to the threads and to this thread (which yields between its jobs,
  // so that a thread's answer gets its next job at once, and other work here goes on).
  const answers: (Listing | PackedListing)[] = [];
  let next = 0;
  const take = () => {
    while (next < parts.length) {
      const i = next++;
      const part = parts[i]!;
      if (!('names' in part)) {
        answers[i] = part;
        continue;
      }
      return { i, job: part };
    }
    return undefined;
  };
  const helpers: Promise<void>[] = [];
  // With an index to compare, this thread has nothing else to do and walks too; otherwise it
  // loads the cache meanwhile (its caller's next step), and the threads walk.
  const walkHere = !eager || !!index;
  const help = (pool: ReadPool) => {
    for (let n = walkHere ? Math.max(1, pool.threads - 1) : pool.threads; n > 0; n--) {
      helpers.push(
        (async () => {
          for (let t = take(); t; t = take()) answers[t.i] = await pool.walk(t.job);
        })(),
      );
    }
  };
  if (threads) help(threads);
  const started = performance.now();
  for (let t = walkHere ? take() : undefined; t; t = take()) {
    const part = packingListing();
    walkNames(opts.root, ignored, part, t.job.parent, t.job.names);
    answers[t.i] = part.packed();
    if (!threads && joinLater && performance.now() - started > JOIN_AFTER_MS) {
      threads = l.threads = new ReadPool('hash');
      threads.warm(); // a tree this big is read on the threads too
      help(threads);
    }
    await new Promise(setImmediate);
  }
  await Promise.all(helpers);
  const unchanged = index && matches(answers, index);
  if (unchanged) return { ...emptyListing(), threads, unchanged };
  const all: ListingWithThreads = { ...emptyListing(), threads };
  for (const answer of answers) {
    const part = 'lstats' in answer ? unpackListing(answer) : answer;
    for (const e of part.listed) all.listed.push(e);
    for (const k of part.skipped) all.skipped.push(k);
    for (const u of part.unlistable) all.unlistable.add(u);
    all.ignored += part.ignored;
  }
  return all;
}

/** Whether the listing is exactly the stat index's paths, each with the same stat data and
 * nothing skipped: then the tree is the indexed commit's. Counts what it saw. */
function matches(parts: (Listing | PackedListing)[], index: StatIndex): Unchanged | undefined {
  const seen: Unchanged = { files: 0, dirs: 0, bytes: 0 };
  const { paths, stats } = index;
  // In the same order, path by path; once the orders part, by a map of the index's paths.
  let at: Map<string, number> | undefined;
  let n = 0;
  const same = (
    path: string,
    dev: number,
    ino: number,
    size: number,
    mtimeMs: number,
    ctimeMs: number,
    mode: number,
  ): boolean => {
    if (!at && paths[n] !== path) {
      at = new Map();
      paths.forEach((p, i) => at!.set(p, i * 5));
    }
    const o = at ? at.get(path) : n * 5;
    if (
      o === undefined ||
      stats[o] !== dev ||
      stats[o + 1] !== ino ||
      stats[o + 2] !== size ||
      stats[o + 3] !== mtimeMs ||
      stats[o + 4] !== ctimeMs
    )
      return false;
    n++;
    const type = mode & C.S_IFMT;
    if (type === C.S_IFREG) {
      seen.files++;
      seen.bytes += size;
    } else if (type === C.S_IFDIR) seen.dirs++;
    return true;
  };
  for (const part of parts) {
    if (part.skipped.length) return undefined;
    if ('lstats' in part) {
      const v = part.lstats;
      for (let i = 0, o = 0; i < part.paths.length; i++, o += LSTAT_FIELDS) {
        if (
          !same(
            part.paths[i]!,
            v[o + LSTAT.dev]!,
            v[o + LSTAT.ino]!,
            v[o + LSTAT.size]!,
            v[o + LSTAT.mtimeMs]!,
            v[o + LSTAT.ctimeMs]!,
            v[o + LSTAT.mode]!,
          )
        )
          return undefined;
      }
    } else {
      for (const [p, st] of part.listed)
        if (!same(p, st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs, st.mode)) return undefined;
    }
  }
  return n === paths.length ? seen : undefined;
}

function baseMeta(st: Listed, kind: Meta['kind']): Meta {
  const meta: Meta = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  const user = userName(st.uid);
  const group = groupName(st.gid);
  if (user !== undefined) meta.user = user;
  if (group !== undefined) meta.group = group;
  if (kind === 'file') meta.size = st.size;
  if (kind !== 'dir') meta.mtime = st.mtimeMs;
  return meta;
}

async function recordFile(opts: ScanOptions, path: string, listed: Listed, entry: Entry): Promise<void> {
  const got = readStable(abs(opts.root, path), listed, opts.rules.hashOnly(path) ? -1 : opts.maxFileSize);
  if ('skipped' in got) {
    entry.meta.skipped = got.skipped;
    return;
  }
  const { stat } = got;
  entry.stat = { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
  entry.meta.size = stat.size;
  entry.meta.mtime = stat.mtimeMs;
  if ('digest' in got) {
    entry.meta.digest = got.digest;
    return;
  }
  const content = got.content;
  if (opts.rules.secret(path) || looksLikePrivateKey(content)) await storeSecret(opts, entry, content);
  else entry.oid = await opts.writer.write('blob', content);
}

/** A secret: the trail shows a placeholder with its keyed digest; the bytes go to the
 * local-only secrets ref (see snapshot.ts). */
async function storeSecret(opts: ScanOptions, entry: Entry, content: Buffer): Promise<void> {
  const digest = secretDigest(opts.secretKey, content);
  entry.meta.secret = digest;
  entry.secretOid = await opts.writer.write('blob', content);
  entry.oid = await opts.writer.write('blob', placeholder(digest));
}

/** One getfattr over the whole tree beats thousands of argument lists when most is new. */
const XATTRS_WHOLE_TREE = 2000;

async function addXattrs(
  root: string,
  state: State,
  fresh: string[],
  total: number,
  tree?: ReturnType<typeof readTreeXattrs>,
): Promise<void> {
  if (!fresh.length) return;
  const all = fresh.length > XATTRS_WHOLE_TREE && fresh.length > total / 2;
  const found = all
    ? await (tree ?? readTreeXattrs(root))
    : await readXattrs(root, fresh, (p) => state.get(p)?.meta.kind === 'symlink');
  for (const p of fresh) {
    const x = found.get(p);
    const e = state.get(p);
    if (x && e) e.meta.xattrs = x;
  }
}

/**
 * `previous` without what lies under the roots (the scan looks there again), and those paths.
 * The rest is not copied: a layered state over `previous` (layered.ts) takes the changes.
 * For roots that are files (the usual window of trail watch) each root is looked up.
 */
function keepOutside(previous: State, roots: string[]): { state: State; under: string[] } {
  if (roots.includes('')) return { state: new Map(), under: [...previous.keys()] };
  const state = LayeredState.over(previous);
  const under: string[] = [];
  if (roots.every((r) => previous.get(r)?.meta.kind !== 'dir')) {
    for (const r of roots) if (previous.has(r)) under.push(r);
  } else {
    const inRoots = insideAny(roots);
    for (const p of previous.keys()) if (inRoots(p)) under.push(p);
  }
  for (const p of under) state.delete(p);
  return { state, under };
}

function normalizeRoots(roots: string[]): string[] {
  if (roots.includes('')) return [''];
  const all = new Set(roots);
  const inside = insideAny(all);
  return [...all].filter((r) => r.lastIndexOf('/') < 0 || !inside(r.slice(0, r.lastIndexOf('/')))).sort(byteCompare);
}
