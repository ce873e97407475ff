import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { ExistingObjects } from './existing.js';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** The git object id of `content` as an object of `type` (SHA-1 over "type size\0content"). */
export function hashObject(type: ObjectType, content: Buffer): string {
  return createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex');
}

/**
 * Where new objects go. The snapshot code only ever calls `write`, so the engine behind it can
 * change with the size of the batch: loose objects for a handful (one file each, what git
 * itself does for small commits), a streamed packfile for a first snapshot of tens of
 * thousands (see ARCHITECTURE.md: creating ~50k loose files is where native git loses its
 * time), or nothing at all when only hashing (`trail status`).
 */
export interface ObjectWriter {
  write(type: ObjectType, content: Buffer): Promise<string>;
  /** Make everything written durable and visible to git. Call before any ref points at it. */
  finish(): Promise<void>;
  /** Give up after a failure: nothing written so far becomes visible (packs only). */
  abort?(): Promise<void>;
  /** Pack writers: blob entries deflated elsewhere at `entryLevel` (reader threads). */
  writeEntries?(items: { oid: string; entry: Buffer; crc: number }[], written?: () => void): Promise<void>;
  readonly entryLevel?: number;
  /** The caller is about to write about this many bytes of file content (before any write). */
  expect?(bytes: number): void;
  /** True when nothing is stored (ids only): readers then need not hand content back. */
  readonly hashOnly?: boolean;
}

/** Hashes without storing: what `status` uses to compare content. */
export class HashOnlyWriter implements ObjectWriter {
  readonly hashOnly = true;
  async write(type: ObjectType, content: Buffer): Promise<string> {
    return hashObject(type, content);
  }
  async finish(): Promise<void> {}
}

/** Writes loose objects the way git does: objects/ab/cdef…, zlib, each into a temp file that
 * becomes the object only once its bytes are durable, so a crash never leaves a torn object.
 * The fsyncs wait for finish() and go out together (the kernel commits concurrent fsyncs of
 * one filesystem in one journal commit): a commit of trail watch writes a dozen objects, and
 * a dozen fsyncs one after the other were most of its time. */
export class LooseWriter implements ObjectWriter {
  private readonly dirsMade = new Set<string>();
  private readonly pending = new Map<string, { tmp: string; file: string; dir: string }>();
  private packed: Promise<ExistingObjects> | undefined;
  constructor(private readonly gitDir: string) {}

  async write(type: ObjectType, content: Buffer): Promise<string> {
    const oid = hashObject(type, content);
    if (this.pending.has(oid)) return oid;
    const dir = join(this.gitDir, 'objects', oid.slice(0, 2));
    const file = join(dir, oid.slice(2));
    try {
      await fsp.access(file);
      return oid; // already there: objects are immutable
    } catch {
      /* not there yet */
    }
    // Or in a pack: a file re-read because its stat data could not be trusted (it changed
    // just before the last snapshot) must not come back as a loose copy of a packed object.
    this.packed ??= ExistingObjects.load(join(this.gitDir, 'objects'));
    if ((await this.packed).has(oid)) return oid;
    if (!this.dirsMade.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirsMade.add(dir);
    }
    const data = deflateSync(Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]), { level: 1 });
    // git's own temp prefix: `git prune` knows to clean it up after a crash.
    const tmp = join(dir, `tmp_obj_${process.pid}_${Math.random().toString(36).slice(2)}`);
    const fh = await fsp.open(tmp, 'wx', 0o444);
    try {
      await fh.writeFile(data);
    } catch (err) {
      await fh.close();
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    this.pending.set(oid, { tmp, file, dir });
    return oid;
  }

  async finish(): Promise<void> {
    const items = [...this.pending.values()];
    // The bytes first, then the names, then the folders that hold the names.
    await Promise.all(items.map((it) => syncPath(it.tmp)));
    await Promise.all(items.map((it) => fsp.rename(it.tmp, it.file)));
    await Promise.all([...new Set(items.map((it) => it.dir))].map(syncPath));
    this.pending.clear();
  }

  async abort(): Promise<void> {
    await Promise.all([...this.pending.values()].map((it) => fsp.rm(it.tmp, { force: true })));
    this.pending.clear();
  }
}

/** fsync of a file or a folder by its path. */
export async function syncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface TreeItem {
  /** Byte string; must not contain '/' or NUL. */
  name: string;
  mode: '100644' | '100755' | '120000' | '40000' | '160000';
  oid: string;
}

/** Serializes a git tree. Git sorts entries by name bytes, with directories compared as if
 * their name ended in '/'. */
export function serializeTree(items: TreeItem[]): Buffer {
  const key = (it: TreeItem) => (it.mode === '40000' ? it.name + '/' : it.name);
  const sorted = [...items].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const parts: Buffer[] = [];
  for (const it of sorted) {
    parts.push(
      Buffer.from(`${it.mode} `, 'latin1'),
      Buffer.from(it.name, 'latin1'),
      Buffer.from([0]),
      Buffer.from(it.oid, 'hex'),
    );
  }
  return Buffer.concat(parts);
}

export function parseTree(data: Buffer): TreeItem[] {
  const items: TreeItem[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp);
    items.push({
      mode: data.toString('latin1', i, sp) as TreeItem['mode'],
      name: data.toString('latin1', sp + 1, nul),
      oid: data.toString('hex', nul + 1, nul + 21),
    });
    i = nul + 21;
  }
  return items;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
  /** Minutes east of UTC. */
  tzOffset: number;
}

export function formatSignature(s: Signature): string {
  const sign = s.tzOffset < 0 ? '-' : '+';
  const abs = Math.abs(s.tzOffset);
  const tz = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  const clean = (t: string) => t.replace(/[<>\n\0]/g, '');
  return `${clean(s.name)} <${clean(s.email)}> ${Math.floor(s.time)} ${tz}`;
}

export function serializeCommit(c: {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}): Buffer {
  let text = `tree ${c.tree}\n`;
  for (const p of c.parents) text += `parent ${p}\n`;
  text += `author ${formatSignature(c.author)}\ncommitter ${formatSignature(c.committer)}\n\n${c.message}`;
  if (!text.endsWith('\n')) text += '\n';
  return Buffer.from(text, 'utf8');
}
