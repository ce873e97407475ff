import { constants as C, lstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatIndex } from '../model/stat-cache.js';
import type { ReadPool } from '../read/read-pool.js';
import type { Unchanged } from './lister.js';
import { abs } from './walker.js';
import { phase } from '../../util/timing.js';

// Whether a tree is still its stat index's, asked path by path: no folder is listed. This is
// what git's untracked cache relies on: a folder whose mtime and ctime are the same holds the
// same names (adding, removing or renaming an entry moves both), and the index was written
// under the same rules (checked by the caller), so no path can have come or gone unseen. Each
// path is lstat'ed once; nothing is read. At 50k files the listing it replaces spent about as
// long in readdir and in packing stats for the main thread as in the lstats themselves.

/** Paths per piece of work for a thread: enough to be worth a message, few enough that the
 * threads share the tree evenly and stop soon after a difference. This thread takes smaller
 * pieces: a thread's answer waits for it to yield before the thread gets its next piece. */
const PIECE = 2048;
const PIECE_HERE = 256;

/** The index's paths `from` to `to` checked on this thread; their counts added to `seen`.
 * False at the first path whose lstat differs, is gone, or cannot be looked at. */
export function checkPaths(
  root: string,
  paths: readonly string[],
  stats: Float64Array,
  from: number,
  to: number,
  seen: Unchanged,
): boolean {
  for (let i = from; i < to; i++) {
    let st;
    try {
      st = lstatSync(abs(root, paths[i]!), { throwIfNoEntry: false });
    } catch {
      return false;
    }
    const o = i * 5;
    if (
      !st ||
      stats[o] !== st.dev ||
      stats[o + 1] !== st.ino ||
      stats[o + 2] !== st.size ||
      stats[o + 3] !== st.mtimeMs ||
      stats[o + 4] !== st.ctimeMs
    )
      return false;
    const type = st.mode & C.S_IFMT;
    if (type === C.S_IFREG) {
      seen.files++;
      seen.bytes += st.size;
    } else if (type === C.S_IFDIR) seen.dirs++;
  }
  return true;
}

/** The same check in C (index-check.c), a Node-API addon built by packaging/native.mjs. */
interface Addon {
  check(root: string, names: Buffer, count: number, stats: Float64Array, threads: number): Promise<number[] | null>;
}

const ADDON = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'index-check.node');
let addon: Addon | null | undefined;
let notLoaded: string | undefined;

/** The check in C, once loaded; undefined where it was not built (no compiler, an npm
 * tarball) or does not load: this file's check then does the same, ~2.5× slower. */
export function nativeCheck(): Addon | undefined {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as Addon;
    } catch (err) {
      addon = null;
      notLoaded = (err as Error).message.split('\n')[0];
      phase(`the stat index is checked in JavaScript (${notLoaded})`);
    }
  }
  return addon ?? undefined;
}

/** Where the stat index is checked, for trail doctor: in C, or in JavaScript and why. */
export function indexCheckWhere(): { native: boolean; file: string; why?: string } {
  return nativeCheck() ? { native: true, file: ADDON } : { native: false, file: ADDON, why: notLoaded };
}

/**
 * Checks every path of `index` under `root`: in C where it is built (on as many threads as
 * the pool has), else on this thread and the pool's threads (one fewer than it has: this
 * thread works too). What it saw when the tree is the index's; undefined at the first
 * difference (the caller then lists the tree). `native: false` is the JavaScript check alone
 * (the tests compare the two).
 */
export async function checkIndex(
  root: string,
  index: StatIndex,
  pool?: ReadPool,
  how: { native?: boolean } = {},
): Promise<Unchanged | undefined> {
  const c = how.native === false ? undefined : nativeCheck();
  if (c) {
    const r = await c.check(root, index.names, index.paths.length, index.stats, pool?.threads ?? 1);
    return r ? { files: r[0]!, dirs: r[1]!, bytes: r[2]! } : undefined;
  }
  const n = index.paths.length;
  const seen: Unchanged = { files: 0, dirs: 0, bytes: 0 };
  let next = 0;
  let differs = false;
  const take = (size: number): [number, number] | undefined => {
    if (differs || next >= n) return undefined;
    const from = next;
    next = Math.min(n, next + size);
    return [from, next];
  };
  const add = (u: Unchanged | undefined) => {
    if (!u) differs = true;
    else {
      seen.files += u.files;
      seen.dirs += u.dirs;
      seen.bytes += u.bytes;
    }
  };
  const here = async () => {
    for (let r = take(PIECE_HERE); r; r = take(PIECE_HERE)) {
      const u: Unchanged = { files: 0, dirs: 0, bytes: 0 };
      add(checkPaths(root, index.paths, index.stats, r[0], r[1], u) ? u : undefined);
      // Between pieces, a thread's answer gets its next piece at once.
      await new Promise(setImmediate);
    }
  };
  const thread = async (p: ReadPool) => {
    for (let r = take(PIECE); r; r = take(PIECE))
      add(
        // A thread that cannot start or is lost leaves its piece unchecked: the tree is listed.
        await p
          .check({
            root,
            names: index.paths.slice(r[0], r[1]).join('\0'),
            stats: index.stats.slice(r[0] * 5, r[1] * 5),
          })
          .catch(() => undefined),
      );
  };
  const helpers = pool ? Math.max(0, pool.threads - 1) : 0;
  await Promise.all([here(), ...Array.from({ length: helpers }, () => thread(pool!))]);
  return differs ? undefined : seen;
}
