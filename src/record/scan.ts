import { closeSync, constants as C, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { byteCompare, joinPath } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';
import { userName, groupName } from '../util/accounts.js';
import { kindOfStat, splitDev, type Meta } from './meta.js';
import type { ObjectWriter } from './objects.js';
import { looksLikePrivateKey, type Rules } from './rules.js';
import { placeholder, secretDigest } from './secrets.js';
import { sameStat, type Entry, type State, type StatKey } from './state.js';
import { readTreeXattrs, readXattrs } from './xattrs.js';

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
}

const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

/**
 * Walks the watched directory and produces the state to record. Each file is opened with
 * O_NOFOLLOW and checked to be the inode that was listed, so a path swapped for a symlink
 * (to /root/.ssh/id_rsa, say) is never read through; a file that changes while it is read
 * is read again, and recorded as skipped if it never holds still.
 */
export async function scan(opts: ScanOptions): Promise<ScanResult> {
  const roots = normalizeRoots(opts.roots ?? ['']);
  const state: State = new Map();
  for (const [p, e] of opts.previous) if (!roots.some((r) => within(p, r))) state.set(p, e);

  const listed: [string, Stats][] = [];
  const skipped: Skipped[] = [];
  let ignored = 0;
  const lstat = (p: string) => lstatSync(abs(opts.root, p), { throwIfNoEntry: false });
  const walk = (path: string, st: Stats) => {
    listed.push([path, st]);
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

  const firstLink = new Map<string, string>();
  const fresh: string[] = [];
  const digestOnly: string[] = [];
  let read = 0, files = 0, dirs = 0, bytes = 0, done = 0;
  for (const [path, st] of listed) {
    opts.onProgress?.(++done, listed.length);
    const kind = kindOfStat(st);
    const key: StatKey = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
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
    if (prev && !opts.full && sameStat(prev.stat, key) && (st.nlink === 1 || kind !== 'file' || prev.meta.link === link)) {
      state.set(path, prev);
      continue;
    }
    const meta: Meta = baseMeta(st, kind);
    if (link !== undefined) meta.link = link;
    const entry: Entry = { meta, stat: key };
    if (unlistable.has(path)) meta.skipped = skipped.find((s) => s.path === path)?.reason ?? 'cannot list';
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

  await addXattrs(opts.root, state, fresh, listed.length);
  return { state, skipped, digestOnly, ignored, read, files, dirs, bytes };
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
  if (opts.rules.secret(path) || looksLikePrivateKey(content)) {
    const digest = secretDigest(opts.secretKey, content);
    entry.meta.secret = digest;
    entry.secretOid = await opts.writer.write('blob', content);
    entry.oid = await opts.writer.write('blob', placeholder(digest));
  } else {
    entry.oid = await opts.writer.write('blob', content);
  }
}

type ReadResult = { content: Buffer; stat: Stats } | { digest: string; stat: Stats } | { skipped: string };

// File times tick coarsely (a few ms): a write landing in the same tick as the last change
// leaves mtime and ctime as they were, so equal stat data before and after a read do not
// prove that nothing was written during it. A file changed this recently is read twice and
// kept only if both reads agree.
const RECENT_MS = 1000;

function readStable(file: Buffer | string, listed: Stats, maxSize: number): ReadResult {
  const same = (a: Stats, b: Stats) => a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size;
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = openSync(file, READ_FLAGS);
    try {
      const before = fstatSync(fd);
      if (!before.isFile() || before.ino !== listed.ino || before.dev !== listed.dev) {
        return { skipped: 'replaced while being recorded; will be recorded on the next pass' };
      }
      const recent = Date.now() - Math.max(before.mtimeMs, before.ctimeMs) < RECENT_MS;
      if (before.size > maxSize) {
        const digest = hashFd(fd);
        const after = fstatSync(fd);
        if (same(after, before) && (!recent || (hashFd(fd) === digest && same(fstatSync(fd), before)))) return { digest, stat: after };
        continue;
      }
      const content = readFd(fd, before.size);
      const after = fstatSync(fd);
      if (same(after, before) && after.size === content.length && (!recent || (readFd(fd, before.size).equals(content) && same(fstatSync(fd), before)))) {
        return { content, stat: after };
      }
    } finally {
      closeSync(fd);
    }
  }
  return { skipped: 'kept changing while being read' };
}

/** Reads the whole file from offset 0 (positional reads: it can be called twice on one fd). */
function readFd(fd: number, sizeHint: number): Buffer {
  let buf = Buffer.allocUnsafe(Math.max(sizeHint + 1, 4096));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const n = readSync(fd, buf, len, buf.length - len, len);
    if (n === 0) return buf.subarray(0, len);
    len += n;
  }
}

function hashFd(fd: number): string {
  const h = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, pos);
    if (n === 0) return h.digest('hex');
    h.update(chunk.subarray(0, n));
    pos += n;
  }
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

function within(path: string, root: string): boolean {
  return root === '' || path === root || path.startsWith(root + '/');
}

function normalizeRoots(roots: string[]): string[] {
  if (roots.includes('')) return [''];
  const sorted = [...new Set(roots)].sort(byteCompare);
  return sorted.filter((r, i) => !sorted.slice(0, i).some((o) => within(r, o)));
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
