import type { Meta } from './meta.js';

/** One path of a snapshot. Paths are byte strings relative to the watched dir; '' is the
 * watched dir itself. */
export interface Entry {
  meta: Meta;
  /** Blob of the content as the trail shows it: file bytes, symlink target, or, for a
   * secret, the placeholder. */
  oid?: string;
  /** A secret's real bytes (local only). */
  secretOid?: string;
  /** Stat data that lets the next scan trust `oid` without reading the file again. */
  stat?: StatKey;
  /** Of an entry whose stat data were dropped as racy (model/stat-cache.ts): the inode it was
   * read from, which says which file it is (snapshot.ts, linked), never that it is unchanged.
   * In memory only. */
  inode?: { dev: number; ino: number };
  /** `meta` as its nameless manifest line (metaLine('', meta)), when the entry was read back
   * from the stat cache and its line not parsed yet. */
  readonly line?: string;
}

export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export type State = Map<string, Entry>;

export function sameStat(a: StatKey | undefined, b: StatKey): boolean {
  return (
    !!a && a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs
  );
}

/** What tree/tree-saver.ts remembers of its last build. Per folder, the entries its trees were
 * built from and the ids they came to: a folder whose entries are the very same objects (scan
 * reuses an unchanged path's entry) and whose subfolders came to the same ids is not
 * serialized and hashed again. At 50k files that is ~0.5 s saved per commit for a
 * long-running writer. In memory only. */
export type FolderMemo = Map<
  string,
  { self: Entry | undefined; kids: Entry[]; content?: string; meta: string; manifest: string }
>;
