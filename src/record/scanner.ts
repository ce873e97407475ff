// The scan: list (list/lister.ts) → read (read/reader.ts) → xattrs, wired together. What a
// scan returns is the state to record; storing trees and committing are snapshot.ts's.
import { phase } from '../util/timing.js';
import { list, type ListingWithThreads } from './list/lister.js';
import { insideAny, normalizeRoots } from './list/roots.js';
import { rulesDigest } from './list/rules.js';
import { abs, type Skipped } from './list/walker.js';
import { LayeredState } from './model/layered.js';
import type { State } from './model/state.js';
import { readListing, type ReadOptions } from './read/reader.js';
import type { AsSecret } from './read/as-secret.js';
import { addXattrs, startTreeXattrs } from './read/xattrs.js';

export interface ScanOptions extends ReadOptions {
  /** Look only at these subtrees (byte strings; '' = everything). Paths of `previous`
   * outside them are kept as they were. */
  roots?: string[];
  /** The listing, started by the caller (list()) before it loaded `previous`, so that the
   * threads walk while this thread loads. */
  listing?: Promise<ListingWithThreads>;
  /** The rules `previous` was recorded under (rulesDigest), if known. */
  previousRules?: string;
}

// Kept for the importers of old; new code imports them from record/index.ts.
export { abs, type Skipped };

export interface ScanResult {
  state: State;
  skipped: Skipped[];
  /** Files read now that were larger than maxFileSize: recorded by digest, content not kept. */
  digestOnly: string[];
  /** Files recorded as secrets though no rule names them: a hard link to one. */
  asSecrets: AsSecret[];
  ignored: number;
  /** Files whose content was read (the rest were trusted on stat data). */
  read: number;
  files: number;
  dirs: number;
  bytes: number;
  /** With roots: every path that may differ from `previous` (any other is its very entry). */
  looked?: string[];
  /** The digest of the rules the whole state is recorded under (rulesDigest); undefined for a
   * scan under roots that kept the rest of a state recorded under others, or unknown ones. */
  rules?: string;
  /** A whole scan's files with hard links it did not list: outside the watched directory, or
   * in an ignored folder. Writes through such a link reach none of trail watch's folder
   * watches (the kernel tells only the inode's own watchers and its parent's through that
   * name). Undefined for a scan under roots. */
  linkedOutside?: string[];
}

/**
 * Walks the watched directory and produces the state to record. Each file is opened with
 * O_NOFOLLOW and checked to be the inode that was listed, so a path swapped for a symlink
 * (to /root/.ssh/id_rsa, say) is never read through; a file that changes while it is read
 * is read again, and recorded as skipped if it never holds still.
 */
export async function scan(opts: ScanOptions): Promise<ScanResult> {
  const roots = normalizeRoots(opts.roots ?? ['']);
  const { state, under } = keepOutside(opts.previous, roots);
  const listing = await (opts.listing ?? list(opts, roots, opts.previous.size));
  const digest = rulesDigest(opts.rules, opts.maxFileSize);
  const { listed, skipped, ignored } = listing;
  phase(`listed ${listed.length}`);
  const treeXattrs = startTreeXattrs(opts.root, !!opts.full || opts.previous.size === 0, listed.length);
  const recheck = opts.previousRules !== digest;
  const { read, files, dirs, bytes, digestOnly, asSecrets, fresh, moved, linkedOutside } = await readListing(
    opts,
    listing,
    state,
    recheck,
  );
  keepUnlisted(opts.previous, state, listing.unlistable);
  phase('read');
  await addXattrs(opts.root, state, fresh, listed.length, treeXattrs, moved);
  // What could differ from `previous`: the paths it had under the roots and those listed now.
  const looked = roots.includes('') ? undefined : [...new Set([...under, ...listed.map(([p]) => p)])];
  const rules = looked && recheck ? undefined : digest;
  return {
    state,
    skipped,
    digestOnly,
    asSecrets,
    ignored,
    read,
    files,
    dirs,
    bytes,
    looked,
    rules,
    ...(looked ? {} : { linkedOutside }),
  };
}

/**
 * What a folder that could not be listed held is unknown, not gone: its recorded entries stay
 * as they were (the folder's own entry says it was skipped, and why). Recorded as deleted, they
 * would come back as new once it can be listed, and the trail would say they were removed.
 */
function keepUnlisted(previous: State, state: State, unlistable: Set<string>): void {
  if (!unlistable.size) return;
  const inside = insideAny([...unlistable]);
  for (const [p, e] of previous) if (!unlistable.has(p) && inside(p) && !state.has(p)) state.set(p, e);
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
