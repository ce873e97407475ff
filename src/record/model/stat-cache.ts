import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { readState } from '../tree/tree-reader.js';
import type { Repo } from '../repo/repo.js';
import { Refs } from '../../util/refs.js';
import { knownMetaLine, metaLineOf, parseMetaLine, type Meta } from './meta.js';
import { escapeName, unescapeName } from '../../util/bytes.js';
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
// Version 3 adds a line after the commit: the digest of the rules the state was recorded
// under (rulesDigest), or "-". A version 2 file is still read, its rules unknown.
const HEADER = 'trail-index 3';
const HEADER_2 = 'trail-index 2';

class CachedEntry implements Entry {
  private parsed: Meta | undefined;
  constructor(
    readonly line: string,
    public oid?: string,
    public secretOid?: string,
    public stat?: StatKey,
  ) {}
  get meta(): Meta {
    // The line is that meta's nameless manifest line: kept for manifests, not made again.
    this.parsed ??= knownMetaLine(parseMetaLine(this.line).meta, this.line);
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
  /** The rules (rulesDigest) every entry was listed and recorded under, when known: an entry
   * recorded under other rules may not be what these make of the same file (a path named a
   * secret since shows its content), see read/reader.ts. */
  rules?: string;
}

// A file whose mtime is this close to the moment the scan started (or later) could have
// changed again after it was read, within the same timestamp tick, without its stat data
// changing ("racy git"): such entries keep no stat data and are read again next time. Judged
// against the scan's start, not the moment the cache is saved: git's rule (racy if the file's
// time is not before the index's), with the scan's start as the index's time — a file read
// early in a long scan and rewritten in the same tick has an mtime near its read, which may
// be long before the save. The margin covers coarse timestamps (a kernel's tick, FAT's 2 s)
// and the clock a file's time is taken from lagging Date.now().
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
  /** The start of the scan its entries were judged against: none is racy as of then. */
  started: number;
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
  await writeCacheFile(repo, memo.commit, memo.cached.state, memo.cached.trees, memo.started, memo.cached.rules);
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
    const parsed = await readCacheFile(cacheFile(repo), head, inMemory ? own : undefined);
    if (parsed) return parsed;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  return { state: await readState(repo, head), trees: new Set(), warm: false };
}

/** `scanned`: the state the scan started from and the paths it looked at (a scan under
 * roots); every other entry is that state's own. `rules`: the digest of the rules the whole
 * state was listed under, if known (see rulesOf in snapshot.ts). `started`: when the scan
 * that made `state` started, before it listed anything (Date.now()): entries changed since
 * (or just before) keep no stat data. */
export async function saveCache(
  repo: Repo,
  commit: string,
  state: State,
  trees: Set<string>,
  folders?: FolderMemo,
  scanned?: { from: State; looked?: string[] },
  rules?: string,
  started: number = Date.now(),
): Promise<void> {
  if (inMemory) {
    const last = memos.get(repo.gitDir);
    let kept: State;
    if (scanned?.looked && last && last.cached.state === scanned.from && started >= last.started) {
      // The rest was not racy as of the start of the memo's scan, and this scan started no
      // earlier: only what this scan looked at is checked (the whole state, per commit, cost
      // tens of ms).
      kept = state;
      for (const p of scanned.looked) {
        const e = state.get(p);
        if (e && racy(e, started)) state.set(p, withoutStat(e));
      }
    } else {
      kept = new Map();
      for (const [p, e] of state) kept.set(p, racy(e, started) ? withoutStat(e) : e);
    }
    // What is already on disk (a reconcile that found nothing and read nothing again, hourly)
    // is not written out again: 100 MB at 200k files, for nothing.
    const written =
      !!last &&
      !last.dirty &&
      last.commit === commit &&
      last.cached.rules === rules &&
      sameEntries(last.cached.state, kept) &&
      sameSet(last.cached.trees, trees);
    memos.set(repo.gitDir, {
      commit,
      cached: { state: kept, trees, warm: true, folders, rules },
      dirty: !written,
      started,
    });
    return;
  }
  await writeCacheFile(repo, commit, state, trees, started, rules);
}

function sameEntries(a: State, b: State): boolean {
  if (a.size !== b.size) return false;
  for (const [p, e] of b) if (a.get(p) !== e) return false;
  return true;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of b) if (!a.has(x)) return false;
  return true;
}

/** Racy as of a scan that started at `started` (see RACY_MS). */
function racy(e: Entry, started: number): boolean {
  return !!e.stat && Math.max(e.stat.mtimeMs, e.stat.ctimeMs) >= started - RACY_MS;
}

function withoutStat(e: Entry): Entry {
  const out: Entry = { meta: e.meta };
  if (e.stat) out.inode = { dev: e.stat.dev, ino: e.stat.ino };
  if (e.oid !== undefined) out.oid = e.oid;
  if (e.secretOid !== undefined) out.secretOid = e.secretOid;
  return out;
}

/** index.json is read this much at a time: the whole file as one string was ~72 MB at 200k
 * paths, most of trail watch's peak memory as it started (with the copies made of it). */
const READ_CHUNK = 4 << 20;

/** A copy of a string that does not hold on to the one it was cut from. Every field parsed
 * from index.json is a slice of the 4 MB of text read with it: a process that keeps the cache
 * in memory (trail watch) would keep all of that text alive for good. (Keeping each line as a
 * string of its own instead: 43 MB more for good at 200k files, measured.) */
function own(s: string): string {
  return s.length ? Buffer.from(s, 'utf8').toString('utf8') : s;
}

/** The cache file, parsed (undefined when torn, damaged or of another commit); `copy` for
 * what is kept of its text; `chunk`: bytes per read (tests). */
export async function readCacheFile(
  file: string,
  head: string,
  copy: (s: string) => string = (s) => s,
  chunk = READ_CHUNK,
): Promise<Cached | undefined> {
  const fh = await fsp.open(file, 'r');
  try {
    const parser = new CacheParser(head, copy);
    // One buffer, read into after the part line carried over from the last read (it grows
    // only for a line longer than itself: the trees line of a very big tree).
    let buf = Buffer.allocUnsafe(chunk);
    let carried = 0;
    for (;;) {
      if (carried === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, carried);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, carried, buf.length - carried, null);
      if (!bytesRead) break;
      const end = carried + bytesRead;
      // Whole lines only (a newline byte is never part of a UTF-8 sequence); the rest waits.
      const last = buf.lastIndexOf(10, end - 1);
      if (last < 0) {
        carried = end;
        continue;
      }
      if (!parser.lines(buf.toString('utf8', 0, last + 1))) return undefined;
      carried = buf.copy(buf, 0, last + 1, end);
    }
    // The last line is "end": without it the file is torn, and rebuilt.
    return buf.toString('latin1', 0, carried) === 'end' ? parser.done() : undefined;
  } finally {
    await fh.close();
  }
}

/** index.json's lines, a run of whole lines at a time: the header, the commit, the trees, then
 * one line per path. */
class CacheParser {
  private readonly state: State = new Map();
  private trees: Set<string> | undefined;
  private rules: string | undefined;
  private header = 0;
  /** Header lines: magic, commit, (version 3) rules, trees. */
  private headerLines = 4;

  constructor(
    private readonly head: string,
    private readonly copy: (s: string) => string,
  ) {}

  /** False once a line is not what it should be. */
  lines(text: string): boolean {
    const { state, copy } = this;
    let pos = 0;
    for (; this.header < this.headerLines && pos < text.length; this.header++) {
      const nl = text.indexOf('\n', pos);
      const line = text.slice(pos, nl);
      pos = nl + 1;
      // A version 2 file has no rules line: its trees line comes third.
      const field = this.headerLines === 3 && this.header === 2 ? 3 : this.header;
      if (field === 0) {
        if (line === HEADER_2) this.headerLines = 3;
        else if (line !== HEADER) return false;
      }
      if (field === 1 && line !== this.head) return false;
      if (field === 2 && line !== '-') this.rules = copy(line);
      if (field === 3) this.trees = new Set(line ? line.split(' ').map(copy) : []);
    }
    // By offsets, not split(): at 50k paths this is most of what `trail status` does before it
    // looks at the disk (split + split + map(Number) took ~180 ms, this ~half of it).
    const stop = text.length;
    while (pos < stop) {
      const nl = text.indexOf('\n', pos);
      const t1 = text.indexOf('\t', pos);
      const t2 = text.indexOf('\t', t1 + 1);
      const t3 = text.indexOf('\t', t2 + 1);
      const t4 = text.indexOf('\t', t3 + 1);
      // Five fields; the metadata is JSON, which holds no raw tab.
      if (t1 < 0 || t4 < 0 || t4 > nl) return false;
      const t5 = text.indexOf('\t', t4 + 1);
      if (t5 >= 0 && t5 < nl) return false;
      let stat: StatKey | undefined;
      if (!(t2 === t1 + 2 && text.charCodeAt(t1 + 1) === 45 /* - */)) {
        const c1 = text.indexOf(',', t1 + 1);
        const c2 = text.indexOf(',', c1 + 1);
        const c3 = text.indexOf(',', c2 + 1);
        const c4 = text.indexOf(',', c3 + 1);
        if (c1 < 0 || c4 < 0 || c4 > t2) return false;
        stat = {
          dev: Number(text.slice(t1 + 1, c1)),
          ino: Number(text.slice(c1 + 1, c2)),
          size: Number(text.slice(c2 + 1, c3)),
          mtimeMs: Number(text.slice(c3 + 1, c4)),
          ctimeMs: Number(text.slice(c4 + 1, t2)),
        };
      }
      const name = text.slice(pos, t1);
      const oid = t3 > t2 + 1 ? copy(text.slice(t2 + 1, t3)) : undefined;
      const secretOid = t4 > t3 + 1 ? copy(text.slice(t3 + 1, t4)) : undefined;
      state.set(copy(unescapeName(name)), new CachedEntry(copy(text.slice(t4 + 1, nl)), oid, secretOid, stat));
      pos = nl + 1;
    }
    return true;
  }

  done(): Cached | undefined {
    if (!this.trees) return undefined; // the header was not all there
    const got: Cached = { state: this.state, trees: this.trees, warm: true };
    if (this.rules !== undefined) got.rules = this.rules;
    return got;
  }
}

function cacheLine(path: string, e: Entry, keepStat: boolean): string {
  const st =
    keepStat && e.stat ? `${e.stat.dev},${e.stat.ino},${e.stat.size},${e.stat.mtimeMs},${e.stat.ctimeMs}` : '-';
  const meta = e instanceof CachedEntry ? e.line : metaLineOf('', e.meta);
  return `${escapeName(path)}\t${st}\t${e.oid ?? ''}\t${e.secretOid ?? ''}\t${meta}`;
}

async function writeCacheFile(
  repo: Repo,
  commit: string,
  state: State,
  trees: Set<string>,
  started: number,
  rules: string | undefined,
): Promise<void> {
  // Written in pieces of ~1 MB: the whole text at once was ~65 MB of strings at 50k files,
  // the peak of a first snapshot's memory.
  await writeFileAtomic(
    cacheFile(repo),
    async (fh) => {
      let chunk = [HEADER, commit, rules ?? '-', [...trees].join(' '), ''].join('\n');
      for (const [p, e] of state) {
        chunk += cacheLine(p, e, !racy(e, started)) + '\n';
        if (chunk.length >= 1 << 20) {
          await fh.write(chunk);
          chunk = '';
        }
      }
      await fh.write(chunk + 'end');
    },
    { durable: false },
  );
  await writeStatIndex(repo, commit, state, started, rules);
}

/**
 * The stat index: each path of the cache with only its stat data, in binary, so that `trail
 * status` on an unchanged big tree compares the disk against it without loading the cache
 * (parsing index.json was the longest step of a status at 50k files). Same commit, same
 * paths, same stat data for every one: the tree is the commit's. Anything else (a path more
 * or less, one stat differing, a racy entry) and status does its usual work.
 */
export interface StatIndex {
  /** The paths, in the order of the state (usually the listing's); path i's five numbers
   * (dev, ino, size, mtimeMs, ctimeMs) are at 5i in `stats`. */
  paths: string[];
  stats: Float64Array;
  /** The same paths as the file holds them, NUL-separated bytes: what the check in C reads
   * (list/index-check.c), rather than 50k strings encoded again. */
  names: Buffer;
  /** The rules (rulesDigest) the paths were listed under; absent when not known. Under the
   * same rules, folders whose stat data is the same hold the same names, so the index can be
   * checked path by path without listing a folder (list/index-check.ts). */
  rules?: string;
}

const STAT_HEADER = 'trail-stat 2';
const STAT_FIELDS = 5;

function statIndexFile(repo: Repo): string {
  return join(repo.stateDir, 'index.stat');
}

async function writeStatIndex(
  repo: Repo,
  commit: string,
  state: State,
  started: number,
  rules: string | undefined,
): Promise<void> {
  // Names and numbers taken together, before the first write: what is written is one state.
  const names: string[] = [];
  const v = new Float64Array(state.size * STAT_FIELDS);
  let i = 0;
  let namesLength = state.size ? state.size - 1 : 0;
  for (const [p, e] of state) {
    names.push(p);
    namesLength += p.length;
    const s = e.stat && !racy(e, started) ? e.stat : undefined;
    v[i] = s ? s.dev : NaN;
    v[i + 1] = s ? s.ino : NaN;
    v[i + 2] = s ? s.size : NaN;
    v[i + 3] = s ? s.mtimeMs : NaN;
    v[i + 4] = s ? s.ctimeMs : NaN;
    i += STAT_FIELDS;
  }
  // Paths are byte strings and no file name holds a NUL byte: NUL-separated, as latin1, written
  // ~1 MB at a time (all at once, names and copies were ~50 MB more of trail watch's memory
  // at 200k files, each time it wrote the index out).
  const head = `${STAT_HEADER}\n${commit}\n${state.size}\n${namesLength}\n${rules ?? '-'}\n`;
  const pad = (8 - ((Buffer.byteLength(head) + namesLength) % 8)) % 8;
  await writeFileAtomic(
    statIndexFile(repo),
    async (fh) => {
      let chunk = head;
      let first = true;
      for (const p of names) {
        chunk += first ? p : '\0' + p;
        first = false;
        if (chunk.length >= 1 << 20) {
          await fh.write(Buffer.from(chunk, 'latin1'));
          chunk = '';
        }
      }
      await fh.write(Buffer.from(chunk + '\0'.repeat(pad), 'latin1'));
      await fh.write(new Uint8Array(v.buffer));
    },
    { durable: false },
  );
}

/** The stat index of commit `head`, if there is a whole one. */
export async function loadStatIndex(repo: Repo, head: string | undefined): Promise<StatIndex | undefined> {
  if (!head) return undefined;
  // Read at once, not through the thread pool: fs.promises read it in pieces, each waiting for
  // this thread, busy starting status's git processes (50k paths, 2.6 MB: 20–25 ms against
  // ~5 ms, TRAIL_TIMING).
  let buf: Buffer;
  try {
    buf = readFileSync(statIndexFile(repo));
  } catch {
    return undefined;
  }
  const lines: string[] = [];
  let pos = 0;
  for (let n = 0; n < 5; n++) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0 || nl - pos > 64) return undefined;
    lines.push(buf.toString('latin1', pos, nl));
    pos = nl + 1;
  }
  const [magic, commit, countText, namesText, rules] = lines as [string, string, string, string, string];
  const count = Number(countText);
  const namesLength = Number(namesText);
  if (magic !== STAT_HEADER || commit !== head || !Number.isSafeInteger(count) || !Number.isSafeInteger(namesLength))
    return undefined;
  const numbersAt = pos + namesLength + ((8 - ((pos + namesLength) % 8)) % 8);
  if (buf.length !== numbersAt + count * STAT_FIELDS * 8) return undefined; // torn or damaged
  const names = count ? buf.toString('latin1', pos, pos + namesLength).split('\0') : [];
  if (names.length !== count) return undefined;
  const stats = new Float64Array(count * STAT_FIELDS);
  Buffer.from(stats.buffer).set(buf.subarray(numbersAt));
  const index = { paths: names, stats, names: buf.subarray(pos, pos + namesLength) };
  return rules === '-' ? index : { ...index, rules };
}

/**
 * Nothing changed, but files were read because their stat data could not be trusted (changed
 * just before the last snapshot, or a cache rebuilt from the commit): what was read is
 * exactly the recorded state, now with stat data, so the next status need not read them
 * again — what `git status` does to its index. Only when the write lock is free at once and
 * the trail's head is still the one compared against: a reader never waits, and never
 * overwrites a newer writer's cache.
 */
export async function refreshCache(
  repo: Repo,
  head: string,
  state: State,
  trees: Set<string>,
  rules: string | undefined,
  started: number,
): Promise<void> {
  try {
    await repo.lock.acquire(0, 'status');
  } catch {
    return;
  }
  try {
    if ((await repo.readRef(Refs.observed)) === head)
      await saveCache(repo, head, state, trees, undefined, undefined, rules, started);
  } catch {
    /* derived data: the next command rebuilds or re-reads */
  } finally {
    await repo.lock.release().catch(() => {});
  }
}
