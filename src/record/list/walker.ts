import { constants as C, lstatSync, readdirSync, type Stats } from 'node:fs';
import { byteCompare, joinPath } from '../../util/bytes.js';
import { errorCode } from '../../util/errors.js';

// Listing a tree: every path under a root that the rules do not ignore, parents before
// children, siblings in byte order, each with its lstat. The scan's own thread walks a small
// tree; a big one is shared out to the reader threads folder by folder (list/lister.ts), and both
// walk with the functions below, so they list exactly alike.

export interface Skipped {
  path: string;
  reason: string;
}

export interface Listing {
  listed: [string, Listed][];
  /** Takes each listed path instead of `listed` (a thread packs them as it goes). */
  add?: (path: string, st: Listed) => void;
  skipped: Skipped[];
  /** Folders that could not be listed: what they hold is unknown, not gone. */
  unlistable: Set<string>;
  ignored: number;
}

/** What a listing keeps of a path's lstat: Stats' numbers and its type tests. */
export type Listed = Pick<
  Stats,
  | 'dev'
  | 'ino'
  | 'mode'
  | 'nlink'
  | 'uid'
  | 'gid'
  | 'rdev'
  | 'size'
  | 'mtimeMs'
  | 'ctimeMs'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isSocket'
  | 'isCharacterDevice'
  | 'isBlockDevice'
>;

/** A Listing as a thread sends it: the paths, and LSTAT_FIELDS numbers per path in one
 * transferable array (50k Stats objects, each with four Dates in Node 20, were most of the
 * listing's garbage). */
export interface PackedListing {
  paths: string[];
  lstats: Float64Array;
  skipped: Skipped[];
  unlistable: string[];
  ignored: number;
}

/** The numbers of a stat in a PackedListing, in this order. */
export const LSTAT_FIELDS = 10;
export const LSTAT = {
  dev: 0,
  ino: 1,
  mode: 2,
  nlink: 3,
  uid: 4,
  gid: 5,
  rdev: 6,
  size: 7,
  mtimeMs: 8,
  ctimeMs: 9,
} as const;

/** A Listing that packs each path's stat as it is listed, so that the Stats die young (kept
 * until the end, they cost a thread more in garbage collection than in lstat). */
export function packingListing(): Listing & { packed(): PackedListing } {
  const paths: string[] = [];
  let v = new Float64Array(1024 * LSTAT_FIELDS);
  const l = emptyListing();
  return Object.assign(l, {
    add(path: string, s: Listed) {
      const o = paths.length * LSTAT_FIELDS;
      if (o === v.length) {
        const bigger = new Float64Array(v.length * 2);
        bigger.set(v);
        v = bigger;
      }
      paths.push(path);
      v[o] = s.dev;
      v[o + 1] = s.ino;
      v[o + 2] = s.mode;
      v[o + 3] = s.nlink;
      v[o + 4] = s.uid;
      v[o + 5] = s.gid;
      v[o + 6] = s.rdev;
      v[o + 7] = s.size;
      v[o + 8] = s.mtimeMs;
      v[o + 9] = s.ctimeMs;
    },
    packed: (): PackedListing => ({
      paths,
      lstats: v.slice(0, paths.length * LSTAT_FIELDS),
      skipped: l.skipped,
      unlistable: [...l.unlistable],
      ignored: l.ignored,
    }),
  });
}

export function unpackListing(p: PackedListing): Listing {
  const v = p.lstats;
  const listed = p.paths.map((path, i): [string, Listed] => {
    const o = i * LSTAT_FIELDS;
    return [
      path,
      new ListedStat(
        v[o]!,
        v[o + 1]!,
        v[o + 2]!,
        v[o + 3]!,
        v[o + 4]!,
        v[o + 5]!,
        v[o + 6]!,
        v[o + 7]!,
        v[o + 8]!,
        v[o + 9]!,
      ),
    ];
  });
  return { listed, skipped: p.skipped, unlistable: new Set(p.unlistable), ignored: p.ignored };
}

class ListedStat implements Listed {
  constructor(
    readonly dev: number,
    readonly ino: number,
    readonly mode: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly rdev: number,
    readonly size: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
  ) {}
  isFile(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFLNK;
  }
  isFIFO(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFIFO;
  }
  isSocket(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFSOCK;
  }
  isCharacterDevice(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFCHR;
  }
  isBlockDevice(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFBLK;
  }
}

export const emptyListing = (): Listing => ({ listed: [], skipped: [], unlistable: new Set(), ignored: 0 });

/** The absolute path for fs calls. ASCII paths stay strings (a Buffer per lstat is
 * measurable at 50k files); any other byte string becomes the exact bytes. */
export function abs(root: string, path: string): Buffer | string {
  if (ASCII.test(path)) return path === '' ? root : root + '/' + path;
  return Buffer.concat([Buffer.from(root, 'utf8'), Buffer.from('/' + path, 'latin1')]);
}

const ASCII = /^[\x01-\x7f]*$/;

/** A folder's entry names (byte strings), in byte order; undefined when it is gone. */
export function namesIn(root: string, path: string, l: Listing): string[] | undefined {
  try {
    return (readdirSync(abs(root, path), { encoding: 'latin1' }) as unknown as string[]).sort(byteCompare);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') cannotList(l, path, err);
    return undefined;
  }
}

export function cannotList(l: Listing, path: string, err: unknown): void {
  l.skipped.push({ path, reason: reasonOf(err, 'cannot list') });
  l.unlistable.add(path);
}

/** Lists `path` (lstat'ed as `st`) and, for a folder, everything under it. */
export function walk(root: string, ignored: (p: string) => boolean, l: Listing, path: string, st: Listed): void {
  if (l.add) l.add(path, st);
  else l.listed.push([path, st]);
  if (!st.isDirectory()) return;
  const names = namesIn(root, path, l);
  if (names) walkNames(root, ignored, l, path, names);
}

/** Lists the entries `names` of folder `parent` and what is under them. */
export function walkNames(
  root: string,
  ignored: (p: string) => boolean,
  l: Listing,
  parent: string,
  names: string[],
): void {
  for (const name of names) {
    const child = joinPath(parent, name);
    if (ignored(child)) {
      l.ignored++;
      continue;
    }
    let st: Listed | undefined;
    try {
      st = lstatSync(abs(root, child), { throwIfNoEntry: false });
    } catch (err) {
      // Deeper than PATH_MAX, or gone odd under us: say so and go on with the rest.
      l.skipped.push({ path: child, reason: reasonOf(err, 'cannot look at') });
      continue;
    }
    if (st) walk(root, ignored, l, child, st);
  }
}

export function reasonOf(err: unknown, what: string): string {
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
