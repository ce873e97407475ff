import { createHash, type Hash } from 'node:crypto';
import { constants, promises as fsp, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorCode } from '../util/errors.js';
import { compressionOf, rotationBase } from '../record/list/rotated-names.js';
import {
  EMPTY_SHA256,
  type Chunk,
  type EndHow,
  type Generation,
  type Incident,
  type IncidentKind,
  type LogFile,
  type LogState,
} from './state.js';
import { StreamCheck, collect, decompressed, explainDifference, readRange } from './stream.js';

/** Kept chunks are cut at this size: one blob each, compressed by git. */
const CHUNK = 4 << 20;
const TAIL = 64;
/** How much of the old bytes is compared to find the exact offset of a change. */
const EXPLAIN_WINDOW = 8 << 20;

/** Running hashes of the generations this process already verified, so that a daemon reads
 * only what was appended; a fresh process re-hashes every prefix (that is the verification). */
export type LiveHashes = Map<string, LiveHash>;
export interface LiveHash {
  hash: Hash;
  length: number;
  sha256: string;
  /** When every byte was last read. */
  fullAt: number;
  /** The inode's ctime when the hash was taken: every write changes it, and no one can set it. */
  ctimeMs: number;
}

/** Even with a running hash, the whole prefix is read again this often: a same-size rewrite
 * in the middle of a big log that is also growing (dd conv=notrunc) is only seen so. */
export const FULL_EVERY_MS = 3600_000;
/** A prefix this small is read whole at every look: a few ms, and any rewrite is seen at once. */
export const SMALL_PREFIX = 8 << 20;

/**
 * Whether a look at a generation must read every byte again (the verification) or may read
 * only what was appended after the running hash (checked against the kept tail). Every byte:
 * when asked to, without a running hash for exactly the recorded prefix, after FULL_EVERY_MS,
 * when the file is shorter, when it was written without growing (a rewrite in place: its
 * ctime moved, its size did not), and while the prefix is small.
 */
export function fullReadNeeded(
  live: Omit<LiveHash, 'hash'> | undefined,
  g: { length: number; sha256: string },
  st: { size: number; ctimeMs: number },
  now: number,
  full: boolean,
): boolean {
  if (full || !live || live.length !== g.length || live.sha256 !== g.sha256) return true;
  if (now - live.fullAt >= FULL_EVERY_MS || st.size < g.length) return true;
  if (st.size === g.length && st.ctimeMs !== live.ctimeMs) return true;
  return g.length <= SMALL_PREFIX;
}

export interface CheckContext {
  root: string;
  now: string;
  /** false: only look (trail logs verify); nothing in the state changes. */
  update: boolean;
  full: boolean;
  live?: LiveHashes;
  /** Stores kept bytes; absent when logs.keepAppended is off. */
  keepBlob?: (data: Buffer) => Promise<string>;
  readBlob?: (oid: string) => Promise<Buffer>;
  onChunk?: (path: string, generation: number, chunk: Chunk) => void;
}

export interface CheckOutcome {
  incidents: Incident[];
  /** Rotations and other expected events, for the log and the commit body. */
  notes: string[];
}

interface Seen {
  name: string;
  abs: string;
  st: Stats;
}

const sameInode = (g: Generation, st: Stats) => g.dev === st.dev && g.ino === st.ino;
const liveKey = (ctx: CheckContext, path: string, g: Generation) => `${ctx.root}\0${path}\0${g.n}`;

/** Checks one tracked log (its current generation and the rotated copies being followed). */
export async function checkFile(state: LogState, path: string, ctx: CheckContext): Promise<CheckOutcome> {
  const out: CheckOutcome = { incidents: [], notes: [] };
  const file: LogFile = (state.files[path] ??= {
    path,
    generations: 0,
    rotated: [],
    chain: EMPTY_SHA256,
    incidents: [],
  });
  const abs = join(ctx.root, path);
  const siblings = await listSiblings(abs);
  const main = siblings.find((s) => s.name === basename(abs));
  const byInode = (g: Generation) => siblings.find((s) => sameInode(g, s.st));
  const claimed = new Set<string>();
  const known = [file.current, ...file.rotated].filter((g): g is Generation => !!g);
  for (const g of known) {
    const s = byInode(g);
    if (s) claimed.add(s.name);
  }

  // Rotated copies first: they must have left the main name for the current one to move there.
  const stillFollowed: Generation[] = [];
  for (const g of file.rotated) {
    const s = byInode(g);
    if (s) {
      const r = await extendPlain(path, g, s, ctx);
      if (r.ok) {
        g.location = relOf(path, s.name);
        stillFollowed.push(g);
        continue;
      }
      out.incidents.push(
        await incident(file, g, 'rewritten', ctx, r.check, s, `its rotated copy ${relOf(path, s.name)}`),
      );
      continue;
    }
    const copy = await findExtending(g, siblings, claimed, path, ctx);
    if (copy) {
      if (copy.compressed) {
        end(file, g, 'compressed', ctx, relOf(path, copy.name));
        out.notes.push(`${path}: generation ${g.n} compressed to ${relOf(path, copy.name)}`);
      } else {
        g.location = relOf(path, copy.name);
        stillFollowed.push(g);
      }
      continue;
    }
    const atLocation = siblings.find((x) => relOf(path, x.name) === g.location);
    if (atLocation && !claimed.has(atLocation.name)) {
      out.incidents.push(
        await incident(file, g, 'replaced', ctx, undefined, atLocation, `its rotated copy ${g.location}`),
      );
      continue;
    }
    end(file, g, 'removed', ctx);
    out.notes.push(`${path}: rotated generation ${g.n} (${g.location}) removed`);
  }
  file.rotated = stillFollowed;

  const cur = file.current;
  if (cur) {
    const s = byInode(cur);
    if (s && s.name === basename(abs)) {
      const r = await extendPlain(path, cur, s, ctx);
      if (!r.ok) {
        // Shorter or different: a copytruncate rotation leaves the old bytes in a copy.
        const copy = await findExtending(cur, siblings, claimed, path, ctx);
        if (copy) {
          rotate(file, cur, copy, 'copytruncate', ctx, path, out);
        } else {
          out.incidents.push(
            await incident(file, cur, r.check.pos < cur.length ? 'truncated' : 'rewritten', ctx, r.check, s),
          );
        }
        file.current = undefined;
      }
    } else if (s) {
      // Renamed away (auth.log → auth.log.1): follow it there, read what was written before the move.
      const r = await extendPlain(path, cur, s, ctx);
      if (r.ok) {
        cur.location = relOf(path, s.name);
        file.rotated.push(cur);
        out.notes.push(`${path}: rotated (generation ${cur.n} renamed to ${cur.location})`);
      } else
        out.incidents.push(
          await incident(file, cur, 'rewritten', ctx, r.check, s, `its rotated copy ${relOf(path, s.name)}`),
        );
      file.current = undefined;
    } else {
      const copy = await findExtending(cur, siblings, claimed, path, ctx);
      if (copy) rotate(file, cur, copy, copy.compressed ? 'compressed' : 'rotated', ctx, path, out);
      else out.incidents.push(await incident(file, cur, main ? 'replaced' : 'deleted', ctx, undefined, main));
      file.current = undefined;
    }
  }
  if (main && !file.current && !file.rotated.some((g) => sameInode(g, main.st))) {
    const g = newGeneration(file, path, main.st, ctx);
    // Trusted from first sight; a file that moves while read is taken up again next time.
    if ((await extendPlain(path, g, main, ctx)).ok) file.current = g;
    else file.generations--;
  }
  return out;
}

function relOf(path: string, name: string): string {
  const d = dirname(path);
  return d === '.' ? name : `${d}/${name}`;
}

async function listSiblings(abs: string): Promise<Seen[]> {
  const dir = dirname(abs);
  const base = basename(abs);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: Seen[] = [];
  for (const name of names) {
    if (name !== base && rotationBase(name) !== base) continue;
    try {
      const st = await fsp.lstat(join(dir, name));
      if (st.isFile()) out.push({ name, abs: join(dir, name), st });
    } catch {
      /* gone meanwhile */
    }
  }
  // Newest first: the copy a rotation just made is the likeliest match.
  return out.sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
}

function newGeneration(file: LogFile, path: string, st: Stats, ctx: CheckContext): Generation {
  return {
    n: ++file.generations,
    dev: st.dev,
    ino: st.ino,
    location: path,
    length: 0,
    sha256: EMPTY_SHA256,
    since: ctx.now,
    lastSeen: ctx.now,
    marks: [{ at: 0, sha256: EMPTY_SHA256, time: ctx.now }],
    chunks: [],
    tail: '',
  };
}

function end(file: LogFile, g: Generation, how: EndHow, ctx: CheckContext, to?: string): void {
  g.ended = { time: ctx.now, how, ...(to ? { to } : {}) };
  file.chain = createHash('sha256').update(`${file.chain}\n${g.n} ${g.length} ${g.sha256} ${how}`).digest('hex');
}

function rotate(
  file: LogFile,
  g: Generation,
  copy: Seen & { compressed: boolean },
  how: EndHow,
  ctx: CheckContext,
  path: string,
  out: CheckOutcome,
): void {
  const to = relOf(path, copy.name);
  if (copy.compressed) {
    end(file, g, how === 'copytruncate' ? 'copytruncate' : 'compressed', ctx, to);
  } else {
    // The copy is a new inode: follow that one from now on.
    g.dev = copy.st.dev;
    g.ino = copy.st.ino;
    g.location = to;
    file.rotated.push(g);
  }
  out.notes.push(`${path}: rotated (${how}; generation ${g.n} continues in ${to})`);
}

/** Collects what follows the verified prefix into kept chunks (when keeping is on). */
class Keeper {
  private parts: Buffer[] = [];
  private size = 0;
  private from = -1;
  readonly chunks: Chunk[] = [];
  constructor(private readonly ctx: CheckContext) {}
  get on(): boolean {
    return !!this.ctx.keepBlob && this.ctx.update;
  }
  add = (buf: Buffer, at: number): void => {
    if (!this.on) return;
    if (this.from < 0) this.from = at;
    this.parts.push(Buffer.from(buf));
    this.size += buf.length;
  };
  async flush(force: boolean): Promise<void> {
    if (!this.on || !this.size || (!force && this.size < CHUNK)) return;
    const data = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    const oid = await this.ctx.keepBlob!(data);
    this.chunks.push({ from: this.from, to: this.from + data.length, oid });
    this.from += data.length;
  }
}

type Extended = { ok: true } | { ok: false; check: StreamCheck };

/** Verifies that the file still starts with the generation's bytes and takes in what was
 * appended since. Reads only the new bytes when this process already hashed the prefix. */
async function extendPlain(path: string, g: Generation, s: Seen, ctx: CheckContext): Promise<Extended> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(s.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return { ok: false, check: new StreamCheck(g.marks, g.length) };
  }
  try {
    const st = await fh.stat();
    if (!sameInode(g, st)) return { ok: false, check: new StreamCheck(g.marks, g.length) };
    const keeper = new Keeper(ctx);
    const live = ctx.live?.get(liveKey(ctx, path, g));
    let check: StreamCheck | undefined;
    const fast = !fullReadNeeded(live, g, st, Date.now(), ctx.full) && (await tailMatches(fh, g));
    if (fast && live) {
      check = new StreamCheck([], g.length, keeper.add, { hash: live.hash, pos: g.length });
      for await (const b of readRange(fh, g.length, st.size)) {
        check.update(b);
        await keeper.flush(false);
      }
    } else {
      check = new StreamCheck(g.marks, g.length, keeper.add);
      for await (const b of readRange(fh, 0, st.size)) {
        check.update(b);
        await keeper.flush(false);
      }
    }
    if (check.pos < g.length || check.prefixDigest !== g.sha256) return { ok: false, check };
    await keeper.flush(true);
    if (check.pos > g.length) {
      g.tail = (await readTail(fh, check.pos)).toString('base64');
      for (const c of keeper.chunks) {
        g.chunks.push(c);
        ctx.onChunk?.(path, g.n, c);
      }
    }
    g.length = check.pos;
    g.sha256 = check.digest();
    g.lastSeen = ctx.now;
    ctx.live?.set(liveKey(ctx, path, g), {
      hash: check.hash,
      length: g.length,
      sha256: g.sha256,
      fullAt: fast && live ? live.fullAt : Date.now(),
      ctimeMs: st.ctimeMs,
    });
    return { ok: true };
  } finally {
    await fh.close();
  }
}

async function readTail(fh: fsp.FileHandle, end: number): Promise<Buffer> {
  const start = Math.max(0, end - TAIL);
  const buf = Buffer.alloc(end - start);
  const { bytesRead } = await fh.read(buf, 0, buf.length, start);
  return buf.subarray(0, bytesRead);
}

async function tailMatches(fh: fsp.FileHandle, g: Generation): Promise<boolean> {
  return (await readTail(fh, g.length)).equals(Buffer.from(g.tail, 'base64'));
}

function sourceOf(s: Seen): AsyncIterable<Buffer> {
  const kind = compressionOf(s.name);
  if (kind) return decompressed(s.abs, kind);
  return (async function* () {
    const fh = await fsp.open(s.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      yield* readRange(fh, 0, (await fh.stat()).size);
    } finally {
      await fh.close();
    }
  })();
}

/** A rotated copy (plain or compressed, not one of the inodes already followed) that starts
 * with exactly the generation's bytes: where a rotation put them. Takes in what the copy holds
 * beyond them (written just before the rotation). */
async function findExtending(
  g: Generation,
  siblings: Seen[],
  claimed: Set<string>,
  path: string,
  ctx: CheckContext,
): Promise<(Seen & { compressed: boolean }) | undefined> {
  let tried = 0;
  for (const s of siblings) {
    if (s.name === basename(path) || claimed.has(s.name)) continue;
    if (!compressionOf(s.name) && s.st.size < g.length) continue;
    if (++tried > 6) break;
    const keeper = new Keeper(ctx);
    const check = new StreamCheck([], g.length, keeper.add);
    try {
      for await (const b of sourceOf(s)) {
        check.update(b);
        await keeper.flush(false);
      }
    } catch {
      continue;
    }
    if (check.prefixDigest !== g.sha256) continue;
    await keeper.flush(true);
    for (const c of keeper.chunks) {
      g.chunks.push(c);
      ctx.onChunk?.(path, g.n, c);
    }
    if (check.pos > g.length) {
      g.length = check.pos;
      g.sha256 = check.digest();
    }
    g.lastSeen = ctx.now;
    claimed.add(s.name);
    return { ...s, compressed: !!compressionOf(s.name) };
  }
  return undefined;
}

const shown = (b: Buffer | undefined) => (b === undefined ? undefined : b.toString('utf8').slice(0, 2000));
const quote = (s: string) => JSON.stringify(s.length > 120 ? s.slice(0, 117) + '…' : s);

/** Builds the incident: where the bytes part (between two checkpoints, exactly with kept
 * bytes), what was removed or inserted, and closes the generation. */
async function incident(
  file: LogFile,
  g: Generation,
  kind: IncidentKind,
  ctx: CheckContext,
  check: StreamCheck | undefined,
  now: Seen | undefined,
  what?: string,
): Promise<Incident> {
  const path = file.path;
  const inc: Incident = {
    kind,
    path,
    generation: g.n,
    detected: ctx.now,
    lastIntact: g.lastSeen,
    verifiedLength: g.length,
    summary: '',
  };
  if (now) inc.sizeNow = now.st.size;
  if (!check && now && kind === 'replaced') {
    // The new file, read against the old generation's marks.
    check = new StreamCheck(g.marks, g.length);
    try {
      for await (const b of sourceOf(now)) check.update(b);
    } catch {
      /* unreadable: no place */
    }
  }
  if (check && g.marks.length) {
    const k = Math.max(0, check.lastGood);
    const from = g.marks[k]!;
    const next = g.marks[k + 1];
    inc.range = { from: from.at, to: next?.at ?? g.length, fromTime: from.time, toTime: next?.time ?? g.lastSeen };
    if (kind === 'truncated') inc.offset = check.pos;
    if (now && ctx.readBlob && g.chunks.length) {
      // Beyond the range too: after a cut the new bytes must be found again further on.
      const old = await keptBytes(g, inc.range.from, Math.min(g.length, inc.range.from + EXPLAIN_WINDOW), ctx.readBlob);
      if (old) {
        const fresh = await collect(sourceOf(now), old.from, old.bytes.length + 65536).catch(() => Buffer.alloc(0));
        const d = explainDifference(old.bytes, fresh);
        if (d) {
          inc.offset = old.from + d.at;
          inc.removed = shown(d.removed);
          inc.inserted = shown(d.inserted);
        }
      }
    }
  }
  const at =
    inc.offset !== undefined
      ? ` at offset ${inc.offset}`
      : inc.range
        ? ` within bytes ${inc.range.from}–${inc.range.to}`
        : '';
  const when = !inc.range
    ? ''
    : inc.range.fromTime === inc.range.toTime
      ? ` (bytes first seen ${inc.range.fromTime})`
      : ` (bytes written between ${inc.range.fromTime} and ${inc.range.toTime})`;
  const subject = what ? `${path}: ${what}` : path;
  const text = [
    kind === 'truncated' ? `${subject} was truncated without a rotation: ${g.length} → ${inc.sizeNow ?? 0} bytes` : '',
    kind === 'rewritten' ? `${subject}: bytes already seen were rewritten${at}${when}` : '',
    kind === 'deleted'
      ? `${subject} was deleted outside a rotation (${g.length} bytes verified, intact at ${g.lastSeen})`
      : '',
    kind === 'replaced'
      ? `${subject} was replaced by another file outside a rotation${check?.prefixDigest === g.sha256 ? ' (the new one still starts with every byte seen)' : `; it diverges${at}${when}`}`
      : '',
  ].join('');
  inc.summary =
    text +
    (inc.removed ? `; removed: ${quote(inc.removed)}` : '') +
    (inc.inserted ? `; inserted: ${quote(inc.inserted)}` : '');
  if (kind === 'truncated' && inc.offset !== undefined && !inc.removed) inc.summary += when;
  end(file, g, kind, ctx);
  file.incidents.push(inc);
  return inc;
}

/** The kept bytes of [from, to), as far as they were kept (from the first chunk at or after `from`). */
async function keptBytes(
  g: Generation,
  from: number,
  to: number,
  read: (oid: string) => Promise<Buffer>,
): Promise<{ from: number; bytes: Buffer } | undefined> {
  const parts: Buffer[] = [];
  let start = -1;
  let pos = -1;
  for (const c of g.chunks) {
    if (c.to <= from || c.from >= to) continue;
    if (pos >= 0 && c.from !== pos) break; // a gap: stop at what is contiguous
    const data = await read(c.oid);
    const s = Math.max(from, c.from);
    if (start < 0) start = s;
    parts.push(data.subarray(s - c.from, Math.min(to, c.to) - c.from));
    pos = c.to;
  }
  return start < 0 ? undefined : { from: start, bytes: Buffer.concat(parts) };
}
