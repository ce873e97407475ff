import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { byteCompare, joinPath } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';
import type { Listed } from './readpool.js';

// Listing a tree: every path under a root that the rules do not ignore, parents before
// children, siblings in byte order, each with its lstat. The scan's own thread walks a small
// tree; a big one is shared out to the reader threads folder by folder (scan.ts), and both
// walk with the functions below, so they list exactly alike.

export interface Skipped {
  path: string;
  reason: string;
}

export interface Listing {
  listed: [string, Listed][];
  skipped: Skipped[];
  /** Folders that could not be listed: what they hold is unknown, not gone. */
  unlistable: Set<string>;
  ignored: number;
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
  let names: Dirent[];
  try {
    names = readdirSync(abs(root, path), { encoding: 'latin1', withFileTypes: true }) as unknown as Dirent[];
  } catch (err) {
    if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') cannotList(l, path, err);
    return undefined;
  }
  return names.map((d) => d.name).sort(byteCompare);
}

export function cannotList(l: Listing, path: string, err: unknown): void {
  l.skipped.push({ path, reason: reasonOf(err, 'cannot list') });
  l.unlistable.add(path);
}

/** Lists `path` (lstat'ed as `st`) and, for a folder, everything under it. `onListed` sees
 * the count grow. */
export function walk(root: string, ignored: (p: string) => boolean, l: Listing, path: string, st: Listed, onListed?: (n: number) => void): void {
  l.listed.push([path, st]);
  onListed?.(l.listed.length);
  if (!st.isDirectory()) return;
  const names = namesIn(root, path, l);
  if (names) walkNames(root, ignored, l, path, names, onListed);
}

/** Lists the entries `names` of folder `parent` and what is under them. */
export function walkNames(root: string, ignored: (p: string) => boolean, l: Listing, parent: string, names: string[], onListed?: (n: number) => void): void {
  for (const name of names) {
    const child = joinPath(parent, name);
    if (ignored(child)) { l.ignored++; continue; }
    let st: Listed | undefined;
    try {
      st = lstatSync(abs(root, child), { throwIfNoEntry: false });
    } catch (err) {
      // Deeper than PATH_MAX, or gone odd under us: say so and go on with the rest.
      l.skipped.push({ path: child, reason: reasonOf(err, 'cannot look at') });
      continue;
    }
    if (st) walk(root, ignored, l, child, st, onListed);
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
