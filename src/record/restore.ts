import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fsyncSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  chmodSync,
  symlinkSync,
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
  for (const [path, cur] of current) {
    if (!scope(path) || path === '') continue;
    const want = target.get(path);
    if (want?.meta.skipped || (cur.meta.skipped && !want)) continue;
    if (!want || want.meta.kind !== cur.meta.kind) p.remove.push(path);
  }
  for (const path of [...target.keys()].sort(byteCompare)) {
    if (!scope(path)) continue;
    const want = target.get(path)!;
    const cur = current.get(path);
    if (want.meta.skipped) continue;
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
    if (why) {
      p.cannot.push({ path, reason: why });
      continue;
    }
    p.write.push(path);
  }
  p.remove.sort((a, b) => byteCompare(b, a)); // children before their folders
  return p;
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

  for (const path of p.remove) {
    checkParents(path);
    rmSync(abs(root, path), { recursive: true, force: true });
    result.removed++;
  }

  const metaTodo: string[] = [];
  for (const path of p.write) {
    const want = target.get(path)!;
    checkParents(path);
    try {
      await writeOne(repo, root, path, want);
      if (want.meta.kind === 'dir') safe.add(path);
      result.written++;
      metaTodo.push(path);
    } catch (err) {
      result.cannot.push({ path, reason: (err as Error).message });
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
      result.cannot.push({ path, reason: (err as Error).message });
    }
  }
  await writeXattrs(root, xset, xremove);
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

async function writeOne(repo: Repo, root: string, path: string, want: Entry): Promise<void> {
  const m = want.meta;
  const dest = abs(root, path);
  const tmp = abs(root, joinPath(parentOf(path), `.${randomBytes(6).toString('hex')}.trail-tmp`));
  switch (m.kind) {
    case 'dir': {
      const st = lstatSync(dest, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) rmSync(dest, { force: true });
      if (!st?.isDirectory()) mkdirSync(dest, { mode: 0o700 });
      return;
    }
    case 'file': {
      if (m.link !== undefined) {
        linkSync(abs(root, m.link), tmp);
        renameSync(tmp, dest);
        return;
      }
      const content = await repo.objects().readBlob(m.secret ? want.secretOid! : want.oid!);
      const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      try {
        for (let off = 0; off < content.length;) off += writeSync(fd, content, off);
        fchownSync(fd, m.uid, m.gid);
        fchmodSync(fd, m.mode);
        fsyncSync(fd);
      } catch (err) {
        closeSync(fd);
        rmSync(tmp, { force: true });
        throw err;
      }
      closeSync(fd);
      renameSync(tmp, dest);
      return;
    }
    case 'symlink': {
      const target = await repo.objects().readBlob(want.oid!);
      symlinkSync(target, tmp);
      renameSync(tmp, dest);
      return;
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
      await run('mknod', ['-m', '600', '--', ...args], { cwd: root });
      renameSync(abs(root, name), dest);
      return;
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
