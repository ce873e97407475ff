import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../util/errors.js';
import { readState } from './readstate.js';
import type { Repo } from './repo.js';
import { metaLine, parseMetaLine, type Meta } from './meta.js';
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

export async function saveCache(repo: Repo, commit: string, state: State, trees: Set<string>, folders?: FolderMemo): Promise<void> {
  const now = Date.now();
  if (inMemory) {
    const kept: State = new Map();
    for (const [p, e] of state) kept.set(p, racy(e, now) ? withoutStat(e) : e);
    memos.set(repo.gitDir, { commit, cached: { state: kept, trees, warm: true, folders }, dirty: true });
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
  const lines = text.split('\n');
  if (lines[0] !== HEADER || lines[1] !== head) return undefined;
  if (lines[lines.length - 1] !== 'end') return undefined; // torn: rebuild
  const trees = new Set(lines[2] ? lines[2].split(' ') : []);
  const state: State = new Map();
  for (let i = 3; i < lines.length - 1; i++) {
    const f = lines[i]!.split('\t');
    if (f.length !== 5) return undefined;
    let stat: StatKey | undefined;
    if (f[1] !== '-') {
      const [dev, ino, size, mtimeMs, ctimeMs] = f[1]!.split(',').map(Number) as [number, number, number, number, number];
      stat = { dev, ino, size, mtimeMs, ctimeMs };
    }
    state.set(unescapeName(f[0]!), new CachedEntry(f[4]!, f[2] || undefined, f[3] || undefined, stat));
  }
  return { state, trees, warm: true };
}

function cacheLine(path: string, e: Entry, keepStat: boolean): string {
  const st = keepStat && e.stat ? `${e.stat.dev},${e.stat.ino},${e.stat.size},${e.stat.mtimeMs},${e.stat.ctimeMs}` : '-';
  const meta = e instanceof CachedEntry ? e.line : metaLine('', e.meta);
  return `${escapeName(path)}\t${st}\t${e.oid ?? ''}\t${e.secretOid ?? ''}\t${meta}`;
}

async function writeCacheFile(repo: Repo, commit: string, state: State, trees: Set<string>, now: number): Promise<void> {
  // Written in pieces of ~1 MB: the whole text at once was ~65 MB of strings at 50k files,
  // the peak of a first snapshot's memory. temp + fsync + rename, like writeFileAtomic.
  const file = cacheFile(repo);
  const tmp = `${file}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    let chunk = [HEADER, commit, [...trees].join(' '), ''].join('\n');
    for (const [p, e] of state) {
      chunk += cacheLine(p, e, !racy(e, now)) + '\n';
      if (chunk.length >= 1 << 20) {
        await fh.write(chunk);
        chunk = '';
      }
    }
    await fh.write(chunk + 'end');
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await fsp.rename(tmp, file);
}
