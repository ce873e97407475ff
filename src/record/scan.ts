import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { byteCompare, joinPath } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';
import { userName, groupName } from '../util/accounts.js';
import { kindOfStat, splitDev, type Meta } from './meta.js';
import type { ObjectWriter } from './objects.js';
import { looksLikePrivateKey, type Rules } from './rules.js';
import { placeholder, secretDigest } from './secrets.js';
import { readStable } from './readfile.js';
import { ReadPool, type ReadJob, type ReadMode, type ReadOutcome } from './readpool.js';
import { insideAny } from './roots.js';
import { LayeredState } from './layered.js';
import { sameStat, type Entry, type State, type StatKey } from './state.js';
import { readTreeXattrs, readXattrs } from './xattrs.js';
import { phase } from './timing.js';

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
}

export interface Skipped {
  path: string;
  reason: string;
}

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
/** A first snapshot's walk starts the reader threads once it has listed this many paths. */
const EARLY_THREADS = 8000;

function threadsAllowed(opts: ScanOptions): boolean | undefined {
  const env = process.env.TRAIL_READ_THREADS;
  return opts.threads ?? (env === 'always' ? true : env === 'never' ? false : undefined);
}

function readMode(w: ObjectWriter): ReadMode {
  return w.hashOnly ? 'hash' : w.writeEntries ? 'pack' : 'raw';
}
/** A batch for a reader thread: few enough files to keep both threads fed, small enough
 * in bytes to bound what is in flight (two batches per thread). */
const BATCH_FILES = 64;
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

  const listed: [string, Stats][] = [];
  const skipped: Skipped[] = [];
  let ignored = 0;
  const lstat = (p: string) => lstatSync(abs(opts.root, p), { throwIfNoEntry: false });
  // A first snapshot of a big tree will want the reader threads: they start while the walk
  // goes on (a small tree never starts them).
  let early: ReadPool | undefined;
  const walk = (path: string, st: Stats) => {
    listed.push([path, st]);
    if (listed.length === EARLY_THREADS && opts.previous.size === 0 && threadsAllowed(opts) !== false) {
      early = new ReadPool(readMode(opts.writer));
      early.warm();
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(abs(opts.root, path), { encoding: 'latin1' }) as unknown as string[];
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return;
      skipped.push({ path, reason: reasonOf(err, 'cannot list') });
      listed.pop();
      listed.push([path, st]);
      unlistable.add(path);
      return;
    }
    names.sort(byteCompare);
    for (const name of names) {
      const child = joinPath(path, name);
      if (opts.rules.ignored(child)) { ignored++; continue; }
      let cst: Stats | undefined;
      try {
        cst = lstat(child);
      } catch (err) {
        // Deeper than PATH_MAX, or gone odd under us: say so and go on with the rest.
        skipped.push({ path: child, reason: reasonOf(err, 'cannot look at') });
        continue;
      }
      if (cst) walk(child, cst);
    }
  };
  const unlistable = new Set<string>();
  for (const r of roots) {
    if (r !== '' && opts.rules.ignored(r)) continue;
    const st = lstat(r);
    if (st) walk(r, st);
  }

  phase(`listed ${listed.length}`);
  const firstLink = new Map<string, string>();
  const fresh: string[] = [];
  const digestOnly: string[] = [];
  let read = 0, files = 0, dirs = 0, bytes = 0, done = 0;

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
        if (errorCode(o.error) === 'ENOENT') { state.delete(path); continue; }
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
    if (kind === 'file') { files++; bytes += st.size; }
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
    if (prev && !opts.full && sameStat(prev.stat, st) && (st.nlink === 1 || kind !== 'file' || prev.meta.link === link)) {
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
      batch.jobs.push({ file: abs(opts.root, path), ino: st.ino, dev: st.dev, maxSize: opts.rules.hashOnly(path) ? -1 : opts.maxFileSize, secret: opts.rules.secret(path) });
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
  await addXattrs(opts.root, state, fresh, listed.length);
  // What could differ from `previous`: the paths it had under the roots and those listed now.
  const looked = roots.includes('') ? undefined : [...new Set([...under, ...listed.map(([p]) => p)])];
  return { state, skipped, digestOnly, ignored, read, files, dirs, bytes, looked };
}

function baseMeta(st: Stats, kind: Meta['kind']): Meta {
  const meta: Meta = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  const user = userName(st.uid);
  const group = groupName(st.gid);
  if (user !== undefined) meta.user = user;
  if (group !== undefined) meta.group = group;
  if (kind === 'file') meta.size = st.size;
  if (kind !== 'dir') meta.mtime = st.mtimeMs;
  return meta;
}

async function recordFile(opts: ScanOptions, path: string, listed: Stats, entry: Entry): Promise<void> {
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

async function addXattrs(root: string, state: State, fresh: string[], total: number): Promise<void> {
  if (!fresh.length) return;
  // One getfattr over the whole tree beats thousands of argument lists when most is new.
  const all = fresh.length > 2000 && fresh.length > total / 2;
  const found = all
    ? await readTreeXattrs(root)
    : await readXattrs(root, fresh, (p) => state.get(p)?.meta.kind === 'symlink');
  for (const p of fresh) {
    const x = found.get(p);
    const e = state.get(p);
    if (x && e) e.meta.xattrs = x;
  }
}

/** The absolute path for fs calls. ASCII paths stay strings (a Buffer per lstat is
 * measurable at 50k files); any other byte string becomes the exact bytes. */
export function abs(root: string, path: string): Buffer | string {
  if (ASCII.test(path)) return path === '' ? root : root + '/' + path;
  return Buffer.concat([Buffer.from(root, 'utf8'), Buffer.from('/' + path, 'latin1')]);
}

const ASCII = /^[\x01-\x7f]*$/;

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

function reasonOf(err: unknown, what: string): string {
  const code = errorCode(err);
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ELOOP: 'is a symlink now',
    EIO: 'I/O error',
    ENAMETOOLONG: 'name too long',
  };
  return `${what}: ${why[code ?? ''] ?? (err as Error).message}`;
}
