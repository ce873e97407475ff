import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readState } from './readstate.js';
import type { Repo } from './repo.js';
import { metaLineOf, parseMetaLine, type Meta } from './meta.js';
import { escapeName, unescapeName } from '../util/bytes.js';
import type { Entry, FolderMemo, State, StatKey } from './state.js';

/**
 * The last recorded state with the stat data of each path, so that the next scan reads only
 * what changed (git's index plays this part for git). It is derived data: when it is
 * missing, damaged or belongs to another commit than the trail's head, it is rebuilt from
 * the commit, without stat data, and every file is read once more.
 */
// The file is text, one line per path, and each entry's metadata stays an unparsed manifest
// line until something asks for it: a status of 50k unchanged files parses none of them
// (JSON.parse of the whole state cost ~300 ms at 50k files).
const HEADER = 'trail-index 2';

class CachedEntry implements Entry {
  private parsed: Meta | undefined;
  constructor(readonly line: string, public oid?: string, public secretOid?: string, public stat?: StatKey) {}
  get meta(): Meta {
    this.parsed ??= parseMetaLine(this.line).meta;
    return this.parsed;
  }
}

export interface Cached {
  state: State;
  /** Ids of the trees of that snapshot: unchanged folders are not written again. */
  trees: Set<string>;
  /** False when rebuilt from the commit: every file will be read again. */
  warm: boolean;
  /** In memory only (keepCacheInMemory): per-folder tree results of that snapshot. */
  folders?: FolderMemo;
}

// A file whose mtime is this close to the moment the cache is written could change again
// within the same timestamp tick without its stat data changing ("racy git"): such entries
// keep no stat data and are read again next time.
const RACY_MS = 2000;

// A long-running process (trail watch) keeps the last state in memory: parsing index.json
// costs ~300 ms and writing it ~230 ms at 50k files, per commit. The memo is used only while
// the trail's head is still the commit it belongs to, so another writer's commit simply
// makes it stale (the file, or the commit, is read instead).
interface Memo {
  commit: string;
  cached: Cached;
  /** Newer than index.json: written out by flushCache. */
  dirty: boolean;
  /** When it was saved (its racy entries were stripped as of then). */
  savedAt: number;
}
const memos = new Map<string, Memo>();
let inMemory = false;

/** Keeps caches in memory and defers writing index.json to flushCache (for daemons). */
export function keepCacheInMemory(on: boolean): void {
  inMemory = on;
  if (!on) memos.clear();
}

/** Writes the in-memory cache of `repo` to index.json if it is newer and still belongs to
 * the trail's head (another writer's fresher file is left alone). Caller holds the lock. */
export async function flushCache(repo: Repo, head: string | undefined): Promise<void> {
  const memo = memos.get(repo.gitDir);
  if (!memo?.dirty || memo.commit !== head) return;
  await writeCacheFile(repo, memo.commit, memo.cached.state, memo.cached.trees, Date.now());
  memo.dirty = false;
}

function cacheFile(repo: Repo): string {
  return join(repo.stateDir, 'index.json');
}

/** About how many paths loadCache will bring (from the file's size), without loading it. */
export async function expectedEntries(repo: Repo, head: string | undefined): Promise<number> {
  if (!head) return 0;
  const memo = memos.get(repo.gitDir);
  if (memo && memo.commit === head) return memo.cached.state.size;
  const st = await fsp.stat(cacheFile(repo)).catch(() => undefined);
  return st ? Math.round(st.size / 300) : 0; // ~300 bytes a line
}

export async function loadCache(repo: Repo, head: string | undefined): Promise<Cached> {
  if (!head) return { state: new Map(), trees: new Set(), warm: false };
  const memo = memos.get(repo.gitDir);
  if (memo && memo.commit === head) return memo.cached;
  try {
    const parsed = parseCacheFile(await fsp.readFile(cacheFile(repo), 'utf8'), head);
    if (parsed) return parsed;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  return { state: await readState(repo, head), trees: new Set(), warm: false };
}

/** `scanned`: the state the scan started from and the paths it looked at (a scan under
 * roots); every other entry is that state's own. */
export async function saveCache(repo: Repo, commit: string, state: State, trees: Set<string>, folders?: FolderMemo, scanned?: { from: State; looked?: string[] }): Promise<void> {
  const now = Date.now();
  if (inMemory) {
    const last = memos.get(repo.gitDir);
    let kept: State;
    if (scanned?.looked && last && last.cached.state === scanned.from && now >= last.savedAt) {
      // The rest was not racy when the memo was saved, and time has only moved on since: only
      // what the scan looked at is checked (the whole state, per commit, cost tens of ms).
      kept = state;
      for (const p of scanned.looked) {
        const e = state.get(p);
        if (e && racy(e, now)) state.set(p, withoutStat(e));
      }
    } else {
      kept = new Map();
      for (const [p, e] of state) kept.set(p, racy(e, now) ? withoutStat(e) : e);
    }
    memos.set(repo.gitDir, { commit, cached: { state: kept, trees, warm: true, folders }, dirty: true, savedAt: now });
    return;
  }
  await writeCacheFile(repo, commit, state, trees, now);
}

function racy(e: Entry, now: number): boolean {
  return !!e.stat && Math.max(e.stat.mtimeMs, e.stat.ctimeMs) >= now - RACY_MS;
}

function withoutStat(e: Entry): Entry {
  const out: Entry = { meta: e.meta };
  if (e.oid !== undefined) out.oid = e.oid;
  if (e.secretOid !== undefined) out.secretOid = e.secretOid;
  return out;
}

function parseCacheFile(text: string, head: string): Cached | undefined {
  // By offsets, not split(): at 50k paths this is most of what `trail status` does before it
  // looks at the disk (split + split + map(Number) took ~180 ms, this ~half of it).
  const l1 = text.indexOf('\n');
  const l2 = text.indexOf('\n', l1 + 1);
  const l3 = text.indexOf('\n', l2 + 1);
  if (l3 < 0 || text.slice(0, l1) !== HEADER || text.slice(l1 + 1, l2) !== head) return undefined;
  if (!text.endsWith('\nend')) return undefined; // torn: rebuild
  const treeLine = text.slice(l2 + 1, l3);
  const trees = new Set(treeLine ? treeLine.split(' ') : []);
  const state: State = new Map();
  const stop = text.length - 4; // the "\nend"
  let pos = l3 + 1;
  while (pos < stop) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0 || nl > stop) nl = stop;
    const t1 = text.indexOf('\t', pos);
    const t2 = text.indexOf('\t', t1 + 1);
    const t3 = text.indexOf('\t', t2 + 1);
    const t4 = text.indexOf('\t', t3 + 1);
    // Five fields; the metadata is JSON, which holds no raw tab.
    if (t1 < 0 || t4 < 0 || t4 > nl) return undefined;
    const t5 = text.indexOf('\t', t4 + 1);
    if (t5 >= 0 && t5 < nl) return undefined;
    let stat: StatKey | undefined;
    if (!(t2 === t1 + 2 && text.charCodeAt(t1 + 1) === 45 /* - */)) {
      const c1 = text.indexOf(',', t1 + 1);
      const c2 = text.indexOf(',', c1 + 1);
      const c3 = text.indexOf(',', c2 + 1);
      const c4 = text.indexOf(',', c3 + 1);
      if (c1 < 0 || c4 < 0 || c4 > t2) return undefined;
      stat = {
        dev: Number(text.slice(t1 + 1, c1)),
        ino: Number(text.slice(c1 + 1, c2)),
        size: Number(text.slice(c2 + 1, c3)),
        mtimeMs: Number(text.slice(c3 + 1, c4)),
        ctimeMs: Number(text.slice(c4 + 1, t2)),
      };
    }
    const name = text.slice(pos, t1);
    const oid = t3 > t2 + 1 ? text.slice(t2 + 1, t3) : undefined;
    const secretOid = t4 > t3 + 1 ? text.slice(t3 + 1, t4) : undefined;
    state.set(unescapeName(name), new CachedEntry(text.slice(t4 + 1, nl), oid, secretOid, stat));
    pos = nl + 1;
  }
  return { state, trees, warm: true };
}

function cacheLine(path: string, e: Entry, keepStat: boolean): string {
  const st = keepStat && e.stat ? `${e.stat.dev},${e.stat.ino},${e.stat.size},${e.stat.mtimeMs},${e.stat.ctimeMs}` : '-';
  const meta = e instanceof CachedEntry ? e.line : metaLineOf('', e.meta);
  return `${escapeName(path)}\t${st}\t${e.oid ?? ''}\t${e.secretOid ?? ''}\t${meta}`;
}

async function writeCacheFile(repo: Repo, commit: string, state: State, trees: Set<string>, now: number): Promise<void> {
  // Written in pieces of ~1 MB: the whole text at once was ~65 MB of strings at 50k files,
  // the peak of a first snapshot's memory.
  await writeFileAtomic(cacheFile(repo), async (fh) => {
    let chunk = [HEADER, commit, [...trees].join(' '), ''].join('\n');
    for (const [p, e] of state) {
      chunk += cacheLine(p, e, !racy(e, now)) + '\n';
      if (chunk.length >= 1 << 20) {
        await fh.write(chunk);
        chunk = '';
      }
    }
    await fh.write(chunk + 'end');
  });
}
