import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  chmodSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { byteCompare, display, joinPath, parentOf } from '../util/bytes.js';
import { run } from '../util/exec.js';
import { errorCode } from '../util/errors.js';
import { sameMeta, type Meta } from './model/meta.js';
import type { Repo } from './repo/repo.js';
import { abs } from './list/walker.js';
import { isPlainComponent } from './tree/tree-reader.js';
import type { Entry, State } from './model/state.js';
import { writeXattrs, type Xattrs } from './read/xattrs.js';

export interface Plan {
  remove: string[];
  /** Paths whose content (or kind) must be written, parents first. */
  write: string[];
  /** Paths whose content is right but whose metadata is not. */
  fixMeta: string[];
  /** Paths that cannot be restored, with the reason. */
  cannot: { path: string; reason: string }[];
}

export function inScope(paths: string[] | undefined): (p: string) => boolean {
  if (!paths || !paths.length || paths.includes('')) return () => true;
  return (p) => paths.some((q) => p === q || p.startsWith(q + '/'));
}

/** What must happen on disk so that the paths in scope look as in `target`. */
export function plan(current: State, target: State, scope: (p: string) => boolean): Plan {
  const p: Plan = { remove: [], write: [], fixMeta: [], cannot: [] };
  // Paths left as they are because their content was never kept: nothing goes below them.
  const kept = new Set<string>();
  const keep = (path: string, reason: string) => {
    p.cannot.push({ path, reason });
    kept.add(path);
  };
  for (const [path, cur] of current) {
    if (!scope(path) || path === '') continue;
    const want = target.get(path);
    if (want?.meta.skipped) continue;
    if (want && want.meta.kind === cur.meta.kind) continue;
    const why = notKept(cur);
    if (why) keep(path, why);
    else p.remove.push(path);
  }
  for (const path of [...target.keys()].sort(byteCompare)) {
    if (!scope(path)) continue;
    const want = target.get(path)!;
    const cur = current.get(path);
    if (want.meta.skipped) continue;
    if (kept.has(path)) continue;
    const above = kept.size ? keptAbove(kept, path) : undefined;
    if (above !== undefined) {
      keep(path, `not restored: ${display(above)} is left as it is`);
      continue;
    }
    const why = cannotRestore(want);
    const sameKind = cur && cur.meta.kind === want.meta.kind;
    const sameContent =
      sameKind &&
      cur.oid === want.oid &&
      cur.meta.digest === want.meta.digest &&
      String(cur.meta.rdev) === String(want.meta.rdev) &&
      cur.meta.link === want.meta.link;
    if (sameContent && !cur.meta.skipped) {
      if (!sameMeta(cur.meta, want.meta)) p.fixMeta.push(path);
      continue;
    }
    // A folder is made again in place; anything else would overwrite what is there.
    const lost = cur && !(sameKind && cur.meta.kind === 'dir') ? notKept(cur) : undefined;
    if (lost) {
      keep(path, lost);
      continue;
    }
    if (why) {
      p.cannot.push({ path, reason: why });
      continue;
    }
    p.write.push(path);
  }
  // A hard link is made from the first link of its group, which must be written before it:
  // byte order can put that one later ("a-b" before "a/x"), so links go last.
  const isLink = (x: string) => target.get(x)!.meta.link !== undefined;
  p.write = [...p.write.filter((x) => !isLink(x)), ...p.write.filter(isLink)];
  p.remove.sort((a, b) => byteCompare(b, a)); // children before their folders
  // A folder that holds something left as it is stays too.
  if (kept.size) keepFolders(p, (dir) => [...kept].find((k) => k.startsWith(dir + '/')));
  return p;
}

/** Why the entry on disk must be left as it is: the trail never kept its content, so a
 * revert that removed or overwrote it could not be undone. */
function notKept(e: Entry): string | undefined {
  if (e.meta.skipped)
    return `left as it is: it could not be recorded (${e.meta.skipped}), so the trail could not give it back`;
  if (e.meta.kind === 'file' && e.meta.digest !== undefined)
    return 'left as it is: recorded by digest only (its content is not in the trail), so the trail could not give it back';
  return undefined;
}

function keptAbove(kept: Set<string>, path: string): string | undefined {
  for (let q = parentOf(path); q !== ''; q = parentOf(q)) if (kept.has(q)) return q;
  return undefined;
}

/** Moves the folders `holds` names a child for (and the folders above them) from the plan's
 * removals to what it cannot do: a folder is only ever removed empty. */
function keepFolders(p: Plan, holds: (dir: string) => string | undefined): void {
  const stay = new Map<string, string>();
  // Children come first in `remove`, so a kept folder is known before its parent is looked at.
  for (const path of p.remove) {
    const child = holds(path) ?? [...stay.keys()].find((k) => k.startsWith(path + '/'));
    if (child !== undefined) stay.set(path, `kept: it holds ${display(child.slice(path.length + 1))}`);
  }
  if (!stay.size) return;
  p.remove = p.remove.filter((x) => !stay.has(x));
  for (const [path, reason] of stay) p.cannot.push({ path, reason });
}

/** Keeps the folders a plan would remove that hold entries the trail never recorded (ignored
 * names, or made since the scan): their content was never kept, so they stay, and say why. */
export function keepUnrecorded(root: string, current: State, p: Plan): void {
  keepFolders(p, (dir) => {
    if (current.get(dir)?.meta.kind !== 'dir') return undefined;
    let names: string[];
    try {
      names = readdirSync(abs(root, dir), { encoding: 'latin1' }) as unknown as string[];
    } catch {
      return undefined;
    }
    const extra = names.find((n) => !current.has(joinPath(dir, n)));
    return extra === undefined ? undefined : joinPath(dir, extra) + ' (not recorded: ignored?)';
  });
}

function cannotRestore(e: Entry): string | undefined {
  if (e.meta.kind === 'socket') return 'a socket belongs to the process that made it; it cannot be restored';
  if (e.meta.kind === 'file' && !e.oid && !e.meta.link) return 'content was not kept (recorded by digest only)';
  if (e.meta.secret && !e.secretOid) return 'the secret content is not on this host';
  return undefined;
}

export interface ApplyResult {
  removed: number;
  written: number;
  metaFixed: number;
  cannot: { path: string; reason: string }[];
}

/**
 * Makes the disk match the plan. Every file is written to a temp file in its folder, owned,
 * moded and fsynced before it is renamed over the old one; nothing is ever written through a
 * symlink (each parent folder is checked to be a real folder, metadata is set through
 * descriptors opened with O_NOFOLLOW), and nothing outside the watched directory is touched.
 * A path that fails is put in `cannot` and the rest goes on: the caller must always get to
 * record what was done and close its journal.
 */
export async function apply(repo: Repo, root: string, current: State, target: State, p: Plan): Promise<ApplyResult> {
  const safe = new Set<string>(['']);
  const checkParents = (path: string) => {
    const parts = path.split('/');
    // Defence in depth: readState refuses such names already.
    if (!parts.every(isPlainComponent))
      throw new Error(`refusing to write ${display(path)}: not a plain relative path`);
    let cur = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = joinPath(cur, parts[i]!);
      if (safe.has(cur)) continue;
      const st = lstatSync(abs(root, cur), { throwIfNoEntry: false });
      if (!st?.isDirectory())
        throw new Error(
          `refusing to write ${display(path)}: ${display(cur)} is ${st ? 'not a real folder (a symlink?)' : 'missing'}`,
        );
      safe.add(cur);
    }
  };
  const result: ApplyResult = { removed: 0, written: 0, metaFixed: 0, cannot: [...p.cannot] };
  // Paths not restored: nothing below them is tried (it would fail alike, or land elsewhere).
  const failed = new Set<string>(p.cannot.map((c) => c.path));
  const fail = (path: string, reason: string) => {
    result.cannot.push({ path, reason });
    failed.add(path);
  };

  // What another process wrote since the scan this plan was made from (the revert's "before"
  // snapshot) is not overwritten or removed: it is left, said, and the next snapshot records
  // it — a revert never loses a change. Content and inode only: a hard link's partner this
  // apply replaced moves its ctime, not its mtime. (A write in the instant between this look
  // and the rename is still lost: the window is as narrow as it can be without a lock on
  // the file.)
  const changedSince = (path: string): boolean => {
    const st = lstatSync(abs(root, path), { throwIfNoEntry: false });
    if (!st) return false;
    const cur = current.get(path);
    if (!cur) return true;
    if (cur.meta.kind === 'dir' || st.isDirectory() || !cur.stat) return false;
    const s = cur.stat;
    return s.dev !== st.dev || s.ino !== st.ino || s.size !== st.size || s.mtimeMs !== st.mtimeMs;
  };
  const SINCE = 'left as it is: changed since the revert began (the next snapshot records it)';

  for (const path of p.remove) {
    try {
      checkParents(path);
      if (changedSince(path)) {
        fail(path, SINCE);
        continue;
      }
      removeOne(root, path);
      result.removed++;
    } catch (err) {
      fail(path, notEmpty(root, path, err) ?? reasonOf('cannot remove', err));
    }
  }

  // Files this apply wrote, by inode: a hard link is made only from one of them or from a
  // first link that is on disk as recorded (see linkFrom).
  const written = new Map<string, { dev: number; ino: number }>();
  const linkFrom = (want: Entry): string | undefined => {
    const src = want.meta.link!;
    const srcWant = target.get(src);
    // One inode: the first link must be recorded with this path's content and metadata.
    if (
      srcWant?.meta.kind !== 'file' ||
      srcWant.meta.link !== undefined ||
      srcWant.oid !== want.oid ||
      srcWant.secretOid !== want.secretOid ||
      !sameMeta({ ...srcWant.meta, link: undefined }, { ...want.meta, link: undefined })
    )
      return undefined;
    try {
      checkParents(src); // a plain path under real folders: a link never reaches outside
    } catch {
      return undefined;
    }
    const st = lstatSync(abs(root, src), { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    const mine = written.get(src);
    if (mine) return mine.dev === st.dev && mine.ino === st.ino ? src : undefined;
    const cur = current.get(src);
    if (
      failed.has(src) ||
      cur?.meta.kind !== 'file' ||
      cur.oid !== srcWant.oid ||
      cur.secretOid !== srcWant.secretOid ||
      !sameMeta(cur.meta, srcWant.meta)
    )
      return undefined;
    // ...and still the very file the scan saw.
    const s = cur.stat;
    return s && s.dev === st.dev && s.ino === st.ino && s.size === st.size && s.mtimeMs === st.mtimeMs
      ? src
      : undefined;
  };

  const metaTodo: string[] = [];
  for (const path of p.write) {
    const want = target.get(path)!;
    let above: string | undefined;
    for (let q = path; q !== '' && above === undefined; q = parentOf(q)) if (failed.has(q)) above = q;
    if (above !== undefined) {
      fail(path, `not written: ${above === path ? 'what is there' : display(above)} could not be restored`);
      continue;
    }
    try {
      checkParents(path);
      if (changedSince(path)) {
        fail(path, SINCE);
        continue;
      }
      const from = want.meta.link !== undefined ? linkFrom(want) : undefined;
      const made = await writeOne(repo, root, path, want, from);
      if (made) written.set(path, made);
      if (want.meta.kind === 'dir') safe.add(path);
      result.written++;
      metaTodo.push(path);
      if (want.meta.link !== undefined && from === undefined)
        result.cannot.push({
          path,
          reason: `written as a file of its own: not hard-linked to ${display(want.meta.link)}, which is not as recorded or not a plain file in the watched dir`,
        });
    } catch (err) {
      fail(path, reasonOf('cannot write', err));
    }
  }
  metaTodo.push(...p.fixMeta);

  // Metadata: owner before mode (chown clears setuid bits), xattrs (ACLs, capabilities) after
  // both (chown also clears security.capability), times last, folders deepest first.
  const xset = new Map<string, Xattrs>();
  const xremove = new Map<string, string[]>();
  for (const path of metaTodo) {
    const want = target.get(path)!;
    try {
      checkParents(path);
      setOwnerAndMode(root, path, want.meta);
      const wantX = want.meta.xattrs ?? {};
      const extra = Object.keys(current.get(path)?.meta.xattrs ?? {});
      // A new file takes the default ACL of its folder; the target may not have had one.
      if (current.get(parentOf(path))?.meta.xattrs?.['system.posix_acl_default'] !== undefined) {
        extra.push('system.posix_acl_access', ...(want.meta.kind === 'dir' ? ['system.posix_acl_default'] : []));
      }
      if (Object.keys(wantX).length) xset.set(path, wantX);
      const stale = [...new Set(extra)].filter((n) => !(n in wantX));
      if (stale.length) xremove.set(path, stale);
    } catch (err) {
      result.cannot.push({ path, reason: reasonOf('cannot set owner and mode', err) });
    }
  }
  try {
    await writeXattrs(root, xset, xremove);
  } catch {
    // One path failed (immutable, read-only): find which, one at a time.
    for (const path of new Set([...xset.keys(), ...xremove.keys()])) {
      const one = <T>(m: Map<string, T>) => new Map(m.has(path) ? [[path, m.get(path)!]] : []);
      try {
        await writeXattrs(root, one(xset), one(xremove));
      } catch (err) {
        result.cannot.push({ path, reason: reasonOf('cannot set extended attributes', err) });
      }
    }
  }
  for (const path of [...metaTodo].sort((a, b) => byteCompare(b, a))) {
    const m = target.get(path)!.meta;
    if (m.mtime === undefined) continue;
    try {
      setTime(root, path, m);
    } catch {
      /* a time we cannot set is not a failed restore */
    }
  }
  for (const path of p.fixMeta) if (!result.cannot.some((c) => c.path === path)) result.metaFixed++;
  return result;
}

/** Removes one path; a folder only when empty (what the trail did not record stays). */
function removeOne(root: string, path: string): void {
  const dest = abs(root, path);
  const st = lstatSync(dest, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) rmdirSync(dest);
  else unlinkSync(dest);
}

/** Why a folder was kept, when it was not empty: it holds what the trail did not record (or
 * could not remove). */
function notEmpty(root: string, path: string, err: unknown): string | undefined {
  if (errorCode(err) !== 'ENOTEMPTY' && errorCode(err) !== 'EEXIST') return undefined;
  let names: string[] = [];
  try {
    names = readdirSync(abs(root, path), { encoding: 'latin1' }) as unknown as string[];
  } catch {
    /* named below without them */
  }
  const shown = names.slice(0, 3).map(display).join(', ') + (names.length > 3 ? `, … (${names.length})` : '');
  return `kept: it still holds ${shown || 'entries'}, which the trail did not record or could not remove`;
}

/** An error as the reason a path was not restored, the causes an admin must act on named. */
function reasonOf(what: string, err: unknown): string {
  const why: Record<string, string> = {
    EPERM: 'operation not permitted (EPERM: immutable or append-only? see lsattr)',
    EACCES: 'permission denied (EACCES)',
    EROFS: 'read-only file system (EROFS)',
    EBUSY: 'busy (EBUSY: a mount point, or in use)',
  };
  return `${what}: ${why[errorCode(err) ?? ''] ?? (err as Error).message}`;
}

/** Moves `tmp` over `dest`; the temp file never stays behind (a secret's bytes would). */
function moveInto(tmp: Buffer | string, dest: Buffer | string): void {
  try {
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes one path; for a file, returns its inode. `from`: a checked path to hard-link it from. */
async function writeOne(
  repo: Repo,
  root: string,
  path: string,
  want: Entry,
  from: string | undefined,
): Promise<{ dev: number; ino: number } | undefined> {
  const m = want.meta;
  const dest = abs(root, path);
  const tmp = abs(root, joinPath(parentOf(path), `.${randomBytes(6).toString('hex')}.trail-tmp`));
  switch (m.kind) {
    case 'dir': {
      const st = lstatSync(dest, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) rmSync(dest, { force: true });
      if (!st?.isDirectory()) mkdirSync(dest, { mode: 0o700 });
      return undefined;
    }
    case 'file': {
      if (from !== undefined) {
        linkSync(abs(root, from), tmp);
        moveInto(tmp, dest);
        return undefined;
      }
      const oid = m.secret ? want.secretOid : want.oid;
      if (oid === undefined) throw new Error('its content was not kept (recorded by digest only)');
      const content = await repo.objects().readBlob(oid);
      const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      let made: { dev: number; ino: number };
      try {
        for (let off = 0; off < content.length;) off += writeSync(fd, content, off);
        fchownSync(fd, m.uid, m.gid);
        fchmodSync(fd, m.mode);
        fsyncSync(fd);
        const st = fstatSync(fd);
        made = { dev: st.dev, ino: st.ino };
      } catch (err) {
        closeSync(fd);
        rmSync(tmp, { force: true });
        throw err;
      }
      closeSync(fd);
      moveInto(tmp, dest);
      return made;
    }
    case 'symlink': {
      const target = await repo.objects().readBlob(want.oid!);
      symlinkSync(target, tmp);
      moveInto(tmp, dest);
      return undefined;
    }
    case 'fifo':
    case 'char':
    case 'block': {
      // mknod takes its path as an argument, which must be UTF-8: make the node under a
      // plain temp name at the top of the watched dir, then move it into place.
      const name = `.${randomBytes(6).toString('hex')}.trail-tmp`;
      const args =
        m.kind === 'fifo'
          ? [name, 'p']
          : [name, m.kind === 'char' ? 'c' : 'b', String(m.rdev?.[0] ?? 0), String(m.rdev?.[1] ?? 0)];
      try {
        await run('mknod', ['-m', '600', '--', ...args], { cwd: root });
      } catch (err) {
        rmSync(abs(root, name), { force: true }); // made, and failed after (chmod)
        throw err;
      }
      moveInto(abs(root, name), dest);
      return undefined;
    }
    default:
      throw new Error(`cannot restore a ${m.kind}`);
  }
}

/** Sets owner and mode without following symlinks. */
function setOwnerAndMode(root: string, path: string, m: Meta): void {
  const p = abs(root, path);
  if (m.kind === 'symlink') {
    lchownSync(p, m.uid, m.gid);
    return;
  }
  if (m.kind === 'char' || m.kind === 'block') {
    // Opening a device can have effects of its own (a tape rewinds): use the path, after
    // making sure it is not a symlink.
    const st: Stats | undefined = lstatSync(p, { throwIfNoEntry: false });
    if (!st || st.isSymbolicLink()) throw new Error('changed while being restored');
    lchownSync(p, m.uid, m.gid);
    chmodSync(p, m.mode);
    return;
  }
  const fd = openSync(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    fchownSync(fd, m.uid, m.gid);
    fchmodSync(fd, m.mode);
  } finally {
    closeSync(fd);
  }
}

function setTime(root: string, path: string, m: Meta): void {
  const t = m.mtime! / 1000;
  const p = abs(root, path);
  if (m.kind === 'symlink') {
    lutimesSync(p, t, t);
    return;
  }
  if (m.kind === 'char' || m.kind === 'block') {
    // Not opened (see setOwnerAndMode): lutimes sets the node's own times by its path.
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st && !st.isSymbolicLink()) lutimesSync(p, t, t);
    return;
  }
  let fd: number;
  try {
    fd = openSync(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    futimesSync(fd, t, t);
  } finally {
    closeSync(fd);
  }
}
