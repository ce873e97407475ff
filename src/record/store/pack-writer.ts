import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, constants as C } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { workerExecArgv } from '../../util/threads.js';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { crc32, deflate as deflateAsync, deflateSync } from 'node:zlib';
import { hashObject, type ObjectType } from './object-format.js';
import { syncPath } from '../../util/atomic.js';
import { LooseWriter } from './loose-writer.js';
import type { ObjectWriter } from './object-writer.js';
import { entryHeader, storedEntry } from './stored.js';
import { phase } from '../../util/timing.js';
import { ExistingObjects } from './existing.js';

export { entryHeader };

export { ExistingObjects };

// Why a packfile writer of our own (see ARCHITECTURE.md, "where first-snapshot time goes"):
// on a 50k-file first snapshot native git spends most of its time in zlib level 6 on one core
// and in creating ~47k loose-object files. Here every object goes into ONE pack, deflated at
// level 1 by worker threads (one per core), no deltas; a later background `git repack` can
// trade CPU for size when nobody is waiting.

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const WORKER_TAG = 'trail-pack-deflate';

/** Below this many objects, loose objects. Measured (bench/crossover.ts, this machine): a
 * pack is already faster from ~3 objects (one fsync for the pack instead of one per loose
 * object: 8 objects 4 ms vs 23 ms, 100 objects 29 ms vs 188 ms). The threshold sits higher
 * because every pack is one more file that each object lookup may search until maintenance
 * repacks (git explodes fetched packs below 100 objects for the same reason,
 * transfer.unpackLimit): between 3 and 16 objects the gain is tens of milliseconds. */
export const PACK_THRESHOLD = 16;

/** From this many bytes of content a pack in 'auto' mode stores blobs uncompressed and
 * leaves compression to background maintenance (maintenance.ts): level 1 cost ~10 ns per
 * byte, most of a first snapshot's CPU; below, level 1 costs little and needs no repack. */
export const STORE_FROM = 8 * 1024 * 1024;

/** A LooseWriter for a handful of objects, a PackWriter for a batch (a first snapshot). */
export function chooseWriter(gitDir: string, expectedObjects: number, opts: PackWriterOptions = {}): ObjectWriter {
  return expectedObjects < PACK_THRESHOLD ? new AdaptiveWriter(gitDir, opts) : new PackWriter(gitDir, opts);
}

/**
 * Loose objects while few are written, one pack once PACK_THRESHOLD come: the daemon does
 * not know how many objects a window brings (one edited file: a dozen; a burst across 500
 * files: a thousand, each fsynced on its own as a loose object — seconds). The first ones are
 * held in memory (up to HOLD_BYTES) until it is known which: a small window's objects are then
 * written loose all at once in finish(), a bigger one's all go into the pack (writing the
 * first 15 loose one after the other, then a pack for the rest, cost a one-file commit at 50k
 * files, 18 objects deep, ~15 ms more than either).
 */
export class AdaptiveWriter implements ObjectWriter {
  private readonly loose: LooseWriter;
  private pack: PackWriter | undefined;
  private count = 0;
  private held = new Map<string, { type: ObjectType; content: Buffer }>();
  private heldBytes = 0;
  /** Too many bytes to hold: loose objects one at a time from here on, as they come. */
  private spilled = false;

  constructor(
    private readonly gitDir: string,
    private readonly opts: PackWriterOptions = {},
  ) {
    this.loose = new LooseWriter(gitDir);
  }

  async write(type: ObjectType, content: Buffer): Promise<string> {
    if (!this.pack && ++this.count >= PACK_THRESHOLD) {
      this.pack = new PackWriter(this.gitDir, this.opts);
      const held = this.takeHeld();
      for (const h of held) await this.pack.write(h.type, h.content);
    }
    if (this.pack) return this.pack.write(type, content);
    if (this.spilled) return this.loose.write(type, content);
    const oid = hashObject(type, content);
    if (!this.held.has(oid)) {
      this.held.set(oid, { type, content });
      this.heldBytes += content.length;
    }
    if (this.heldBytes > HOLD_BYTES) {
      this.spilled = true;
      for (const h of this.takeHeld()) await this.loose.write(h.type, h.content);
    }
    return oid;
  }

  async finish(): Promise<void> {
    // Distinct ids (held by id), so no two writes race for one object's file.
    await Promise.all(this.takeHeld().map((h) => this.loose.write(h.type, h.content)));
    await this.loose.finish();
    await this.pack?.finish();
  }

  async abort(): Promise<void> {
    this.takeHeld();
    await this.loose.abort();
    await this.pack?.abort();
  }

  private takeHeld(): { type: ObjectType; content: Buffer }[] {
    const held = [...this.held.values()];
    this.held.clear();
    this.heldBytes = 0;
    return held;
  }
}

/** What AdaptiveWriter holds in memory at most before it knows whether a pack comes. */
const HOLD_BYTES = 8 * 1024 * 1024;

export interface PackWriterOptions {
  /** zlib level for the pack (default 1: fast; `git repack -F` recompresses later). 'auto':
   * level 0 (stored) when `expect` announces at least STORE_FROM bytes, else 1. */
  level?: number | 'auto';
  /** Worker threads that deflate (default: one per core). 0 deflates on libuv's threadpool. */
  workers?: number;
  /** Upper bound on object bytes held between `write` and the disk, before `write` waits. */
  maxInFlightBytes?: number;
  /** Offsets above this go to the idx's 64-bit table. Git's own limit is 2^31-1; tests lower
   * it (as `git index-pack --index-version=2,N` does) to cover the large-offset table without a
   * 2 GB pack. */
  largeOffsetLimit?: number;
  /** Skip objects the repository already has (default true): a snapshot that re-reads every
   * file (cold stat cache) must not store the whole tree again. */
  skipExisting?: boolean;
}

/** Objects go to a worker in batches: one message per ~512 KB amortizes postMessage and
 * gives both cores long runs of work. */
const BATCH_BYTES = 512 * 1024;
const BATCH_OBJECTS = 256;
/** Objects at least this big are deflated on libuv's threadpool straight from the caller's
 * buffer: copying a 1 GB file into a batch would double the memory it takes. */
const BIG_OBJECT = 4 * 1024 * 1024;
/** Worker threads start once this much has been written: a small write set costs less on
 * libuv's threadpool than the ~40–100 ms a worker takes to start. */
const WORKER_START_BYTES = 4 * 1024 * 1024;

interface Batch {
  parts: Buffer[];
  types: number[];
  oids: string[];
  bytes: number;
}

/** Batch buffers travel main → worker → main and are used again: otherwise each of the ~1000
 * batches of a 50k-file snapshot leaves two dead buffers in two V8 heaps, collected lazily
 * (measured: 10–25 MB of peak RSS). */
const POOLED = 1024 * 1024;

interface DeflateRequest {
  input: ArrayBuffer;
  /** Where the entries go, when they fit. */
  out: ArrayBuffer;
  lens: number[];
  types: number[];
  level: number;
}
interface DeflateReply {
  input: ArrayBuffer;
  out: ArrayBuffer;
  outLen: number;
  lens: number[];
  crcs: number[];
}

/**
 * Streams objects into one packfile (v2, no deltas) in `<gitDir>/objects/pack/`.
 *
 * `write` hashes on the calling thread (the caller needs the id at once) and hands the
 * content on; it resolves as soon as the object is queued, and waits only when
 * `maxInFlightBytes` are queued (back-pressure). Failures surface at the next `write` or at
 * `finish`. Until `finish` resolves git cannot see any of it: the pack is a `tmp_pack_*`
 * file (git's own prefix, which `git prune` cleans up) and the `.idx` is renamed into place
 * last — git only opens packs that have an idx, so a crash leaves nothing git would read (a
 * kill between the two renames leaves a `.pack` without `.idx`, ignored, as git's own
 * index-pack would).
 * Big contents (≥ 4 MB) are read in place, so a caller must not change a buffer it has
 * passed to `write` before `finish`.
 */
export class PackWriter implements ObjectWriter {
  private readonly packDir: string;
  private level: number;
  private readonly auto: boolean;
  private stored0 = 0;
  private readonly nWorkers: number;
  private readonly maxInFlight: number;
  private readonly largeLimit: number;
  private readonly tmpPack: string;
  private readonly maxPending: number;
  private readonly skipExisting: boolean;

  private fh: fsp.FileHandle | undefined;
  private opening: Promise<fsp.FileHandle> | undefined;
  /** Next free byte of the pack; entries are placed here in the order deflate finishes. */
  private end = 12;
  private readonly seen = new Set<string>();
  /** Bytes handed to `write` so far (each object once). */
  private totalBytes = 0;
  private accepted = 0;
  private readonly entryOids: string[] = [];
  private readonly entryCrcs: number[] = [];
  private readonly entryOffsets: number[] = [];

  private batch: Batch = { parts: [], types: [], oids: [], bytes: 0 };
  private readonly queue: Batch[] = [];
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private inFlightBytes = 0;
  private pending = 0;
  private waiters: (() => void)[] = [];
  private readonly writes = new Set<Promise<void>>();
  private pool: ArrayBuffer[] = [];
  private existing: ExistingObjects | undefined;
  private error: unknown;
  private state: 'open' | 'finishing' | 'done' = 'open';

  constructor(
    private readonly gitDir: string,
    opts: PackWriterOptions = {},
  ) {
    this.packDir = join(gitDir, 'objects', 'pack');
    this.auto = opts.level === 'auto';
    this.level = opts.level === 'auto' ? 1 : (opts.level ?? 1);
    this.nWorkers = opts.workers ?? Math.max(1, availableParallelism());
    this.maxInFlight = opts.maxInFlightBytes ?? 32 * 1024 * 1024;
    this.largeLimit = opts.largeOffsetLimit ?? 0x7fffffff;
    this.skipExisting = opts.skipExisting ?? true;
    // Two batches per worker keep each busy while the other reply is being written out.
    this.maxPending = Math.max(4, 2 * this.nWorkers);
    this.tmpPack = join(this.packDir, `tmp_pack_${randomBytes(6).toString('hex')}`);
  }

  /** Objects accepted for the pack so far (each id once, known ones skipped). */
  get count(): number {
    return this.accepted;
  }

  async write(type: ObjectType, content: Buffer): Promise<string> {
    if (this.state !== 'open') throw new Error('PackWriter: write after finish');
    if (this.error !== undefined) throw this.error;
    const oid = hashObject(type, content);
    if (this.seen.has(oid)) return oid;
    this.seen.add(oid);
    if (!this.fh) await this.open();
    if (this.existing?.has(oid)) return oid;
    this.accepted++;
    if (this.level === 0 && content.length < BIG_OBJECT) {
      // Stored, not compressed: zlib only frames the bytes (~1 µs per KB), cheaper here than
      // a trip to another thread, and one write per batch of entries.
      this.storeInline(oid, TYPE_CODE[type], content);
    } else {
      this.inFlightBytes += content.length;
      if (content.length >= BIG_OBJECT || this.nWorkers === 0) {
        this.deflateOnThreadpool(oid, TYPE_CODE[type], content);
      } else {
        const b = this.batch;
        b.parts.push(content);
        b.types.push(TYPE_CODE[type]);
        b.oids.push(oid);
        b.bytes += content.length;
        this.totalBytes += content.length;
        if (b.bytes >= BATCH_BYTES || b.parts.length >= BATCH_OBJECTS) {
          if (this.workers.length === 0 && this.totalBytes < WORKER_START_BYTES) await this.deflateSmallBatch();
          else this.dispatch();
        } else if (
          this.pending === 0 &&
          this.workers.length > 0 &&
          (this.idle.length > 0 || this.workers.length < this.nWorkers)
        ) {
          // Nothing else is being deflated: hand the partial batch over now rather than let a
          // core sit idle while the caller reads the next file.
          this.dispatch();
        }
      }
    }
    if (this.inFlightBytes > this.maxInFlight) {
      // The bytes held back may all sit in the batch still being filled: send it, or the
      // wait below would never end.
      this.dispatch();
    }
    // Jobs are bounded too: every threadpool deflate holds a zlib stream (~300 KB) of its
    // own, so thousands of small objects would cost far more than their bytes.
    while (
      (this.inFlightBytes > this.maxInFlight || this.pending > this.maxPending) &&
      this.pending > 0 &&
      this.error === undefined
    ) {
      await this.settled();
    }
    if (this.error !== undefined) throw this.error;
    return oid;
  }

  /** The caller (a scan) is about to write about `bytes` bytes of file content. */
  expect(bytes: number): void {
    if (this.auto && this.accepted === 0) this.level = bytes >= STORE_FROM ? 0 : 1;
  }

  /** Bytes written uncompressed (level 0): what background maintenance could shrink. */
  get storedBytes(): number {
    return this.stored0;
  }

  /** The zlib level of this pack: entries given to `writeEntries` must be made with it. */
  get entryLevel(): number {
    return this.level;
  }

  /**
   * Blob entries made elsewhere (reader threads, see readpool.ts): each the entry header and
   * zlib data, with the CRC-32 of those bytes. Ids already written or already in the
   * repository are left out. Entries that lie back to back in one buffer go to the disk as one
   * write, without a copy.
   */
  async writeEntries(items: { oid: string; entry: Buffer; crc: number }[], written?: () => void): Promise<void> {
    if (this.state !== 'open') throw new Error('PackWriter: write after finish');
    if (this.error !== undefined) throw this.error;
    let handedOn = false;
    if (!this.fh) await this.open();
    const keep: typeof items = [];
    for (const it of items) {
      if (this.seen.has(it.oid)) continue;
      this.seen.add(it.oid);
      if (this.existing?.has(it.oid)) continue;
      keep.push(it);
    }
    if (keep.length) {
      let at = 0;
      let contiguous = true;
      for (let i = 0; i < keep.length; i++) {
        const e = keep[i]!.entry;
        this.place(keep[i]!.oid, keep[i]!.crc, this.end + at);
        at += e.length;
        if (i > 0) {
          const p = keep[i - 1]!.entry;
          if (p.buffer !== e.buffer || p.byteOffset + p.length !== e.byteOffset) contiguous = false;
        }
      }
      this.accepted += keep.length;
      if (this.level === 0) this.stored0 += at;
      const first = keep[0]!.entry;
      const data = contiguous
        ? Buffer.from(first.buffer, first.byteOffset, at)
        : Buffer.concat(keep.map((k) => k.entry));
      this.pending++;
      handedOn = true;
      this.appendRaw(data, () => {
        this.pending--;
        written?.();
      });
    }
    if (!handedOn) written?.();
    while (this.inFlightBytes > this.maxInFlight && this.pending > 0 && this.error === undefined) await this.settled();
    if (this.error !== undefined) throw this.error;
  }

  private stored: { parts: Buffer[]; oids: string[]; crcs: number[]; bytes: number } = {
    parts: [],
    oids: [],
    crcs: [],
    bytes: 0,
  };

  private storeInline(oid: string, type: number, content: Buffer): void {
    const { entry, crc } = storedEntry(type, content);
    this.stored0 += content.length;
    const st = this.stored;
    st.parts.push(entry);
    st.oids.push(oid);
    st.crcs.push(crc);
    st.bytes += entry.length;
    if (st.bytes >= BATCH_BYTES) this.flushStored();
  }

  /** Writes the entries stored inline so far as one piece. */
  private flushStored(): void {
    const st = this.stored;
    if (!st.oids.length) return;
    this.stored = { parts: [], oids: [], crcs: [], bytes: 0 };
    let at = 0;
    for (let i = 0; i < st.oids.length; i++) {
      this.place(st.oids[i]!, st.crcs[i]!, this.end + at);
      at += st.parts[i]!.length;
    }
    this.pending++;
    this.appendRaw(Buffer.concat(st.parts, st.bytes), () => {
      this.pending--;
    });
  }

  async finish(): Promise<void> {
    if (this.state !== 'open') throw new Error('PackWriter: finish called twice');
    this.state = 'finishing';
    try {
      this.flushStored();
      if (this.workers.length === 0 && this.totalBytes < WORKER_START_BYTES) await this.deflateSmallBatch();
      else this.dispatch();
      while (this.pending > 0 && this.error === undefined) await this.settled();
      if (this.error !== undefined) throw this.error;
      if (this.entryOids.length === 0) {
        await this.discard();
        return;
      }
      const fh = this.fh!;
      const header = Buffer.alloc(12);
      header.write('PACK', 0, 'latin1');
      header.writeUInt32BE(2, 4);
      header.writeUInt32BE(this.entryOids.length, 8);
      await fh.write(header, 0, 12, 0);
      // The count in the header is known only now, and SHA-1 cannot be patched, so the
      // checksum is taken over the finished file (page cache: ~0.2 s for 160 MB).
      const sha = createHash('sha1');
      const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
      for (let pos = 0; pos < this.end;) {
        const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, this.end - pos), pos);
        if (bytesRead === 0) throw new Error('PackWriter: pack shorter than written');
        sha.update(chunk.subarray(0, bytesRead));
        pos += bytesRead;
      }
      const packSha = sha.digest();
      phase('pack hashed');
      await fh.write(packSha, 0, 20, this.end);
      await fh.sync();
      phase('pack synced');
      await fh.close();
      this.fh = undefined;

      const name = packSha.toString('hex');
      const finalPack = join(this.packDir, `pack-${name}.pack`);
      const finalIdx = join(this.packDir, `pack-${name}.idx`);
      const tmpIdx = join(this.packDir, `tmp_idx_${randomBytes(6).toString('hex')}`);
      const ih = await fsp.open(tmpIdx, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o444);
      try {
        await ih.writeFile(this.buildIdx(packSha));
        await ih.sync();
      } finally {
        await ih.close();
      }
      // The same objects in the same order give the same name; the bytes are then identical.
      if (await exists(finalIdx)) {
        await fsp.rm(this.tmpPack, { force: true });
        await fsp.rm(tmpIdx, { force: true });
      } else {
        await fsp.rename(this.tmpPack, finalPack);
        await fsp.rename(tmpIdx, finalIdx);
      }
      await syncPath(this.packDir);
    } catch (err) {
      await this.discard();
      throw err;
    } finally {
      this.state = 'done';
      await this.stopWorkers();
    }
  }

  /** Gives up: removes the temporary pack; nothing written becomes visible. */
  async abort(): Promise<void> {
    this.state = 'done';
    this.error ??= new Error('PackWriter: aborted');
    await this.stopWorkers();
    await this.discard();
  }

  private async discard(): Promise<void> {
    this.queue.length = 0;
    await Promise.allSettled([...this.writes]);
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close().catch(() => {});
    if (this.opening) await fsp.rm(this.tmpPack, { force: true });
  }

  private open(): Promise<fsp.FileHandle> {
    this.opening ??= (async () => {
      await fsp.mkdir(this.packDir, { recursive: true, mode: 0o700 });
      if (this.skipExisting) this.existing = await ExistingObjects.load(join(this.gitDir, 'objects'));
      const fh = await fsp.open(this.tmpPack, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o444);
      this.fh = fh;
      return fh;
    })();
    return this.opening;
  }

  private settled(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private fail(err: unknown): void {
    this.error ??= err;
  }

  private dispatch(): void {
    const b = this.batch;
    if (b.parts.length > 0) {
      this.batch = { parts: [], types: [], oids: [], bytes: 0 };
      this.pending++;
      this.queue.push(b);
    }
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w && this.workers.length < this.nWorkers) w = this.startWorker();
      if (!w) return;
      const b = this.queue.shift()!;
      // One copy into a buffer we own, transferred (not cloned) to the worker: the caller's
      // buffers stay untouched and usable.
      const input = this.takeBuffer(b.bytes);
      const joined = new Uint8Array(input, 0, b.bytes);
      let at = 0;
      for (const p of b.parts) {
        joined.set(p, at);
        at += p.length;
      }
      const out = this.takeBuffer(0);
      const req: DeflateRequest = { input, out, lens: b.parts.map((p) => p.length), types: b.types, level: this.level };
      w.ref();
      (w as WorkerWithJob).job = b;
      w.postMessage(req, [input, out]);
    }
  }

  /** Deflates the current batch on libuv's threadpool, a few objects at a time (each async
   * deflate holds a zlib stream of its own). */
  private async deflateSmallBatch(): Promise<void> {
    const b = this.batch;
    this.batch = { parts: [], types: [], oids: [], bytes: 0 };
    for (let i = 0; i < b.parts.length; i++) {
      while (this.pending >= 4 && this.error === undefined) await this.settled();
      this.deflateOnThreadpool(b.oids[i]!, b.types[i]!, b.parts[i]!);
    }
  }

  private takeBuffer(size: number): ArrayBuffer {
    return size <= POOLED ? (this.pool.pop() ?? new ArrayBuffer(POOLED)) : new ArrayBuffer(size);
  }

  private giveBuffer(buf: ArrayBuffer): void {
    if (buf.byteLength === POOLED && this.pool.length < 4 * this.maxPending) this.pool.push(buf);
  }

  private startWorker(): Worker {
    const execArgv = workerExecArgv();
    // A worker's garbage is a few short-lived buffers per batch; a small young generation
    // collects them sooner (measured at 50k files: -25 MB peak RSS, no more CPU).
    const resourceLimits = { maxYoungGenerationSizeMb: 2 };
    const w = new Worker(new URL(import.meta.url), {
      workerData: { [WORKER_TAG]: true },
      execArgv,
      resourceLimits,
    }) as WorkerWithJob;
    w.on('message', (reply: DeflateReply) => {
      const b = w.job!;
      w.job = undefined;
      w.unref();
      this.idle.push(w);
      this.giveBuffer(reply.input);
      const out = Buffer.from(reply.out, 0, reply.outLen);
      let at = 0;
      for (let i = 0; i < reply.lens.length; i++) {
        this.place(b.oids[i]!, reply.crcs[i]!, this.end + at);
        at += reply.lens[i]!;
      }
      this.inFlightBytes -= b.bytes;
      this.appendRaw(out, () => {
        this.giveBuffer(reply.out);
        this.pending--;
      });
      this.pump();
    });
    const lost = (err: unknown) => {
      this.fail(err);
      const b = w.job;
      w.job = undefined;
      this.workers = this.workers.filter((x) => x !== w);
      if (b) {
        this.inFlightBytes -= b.bytes;
        this.pending--;
      }
      this.wake();
    };
    w.on('error', lost);
    w.on('exit', (code) => {
      if (w.job) lost(new Error(`PackWriter: deflate worker exited (${code})`));
    });
    this.workers.push(w);
    return w;
  }

  private async stopWorkers(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    this.idle = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private deflateOnThreadpool(oid: string, type: number, content: Buffer): void {
    this.pending++;
    // A zlib stream per object: its output buffer sized to the object (1 MB each for thousands
    // of small trees and manifests in a burst window was most of the daemon's garbage).
    deflateAsync(
      content,
      { level: this.level, chunkSize: Math.min(1024 * 1024, Math.max(16 * 1024, content.length + 1024)) },
      (err, deflated) => {
        if (err) {
          this.fail(err);
          this.inFlightBytes -= content.length;
          this.pending--;
          this.wake();
          return;
        }
        const hdr = entryHeader(type, content.length);
        const entry = Buffer.concat([hdr, deflated]);
        this.place(oid, crc32(entry), this.end);
        this.inFlightBytes -= content.length;
        this.appendRaw(entry, () => {
          this.pending--;
        });
      },
    );
  }

  private place(oid: string, crc: number, offset: number): void {
    this.entryOids.push(oid);
    this.entryCrcs.push(crc);
    this.entryOffsets.push(offset);
  }

  /** Reserves the next `data.length` bytes of the pack (synchronously, so placement order is
   * decided here) and writes them there; positional writes may then complete in any order. */
  private appendRaw(data: Buffer, done: () => void): void {
    const pos = this.end;
    this.end += data.length;
    // Output waiting for the disk counts against the same bound as input waiting for zlib.
    this.inFlightBytes += data.length;
    const fh = this.fh;
    const p = (async () => {
      try {
        if (!fh || this.state === 'done') throw new Error('PackWriter: aborted');
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off, pos + off);
          off += bytesWritten;
        }
      } catch (err) {
        this.fail(err);
      } finally {
        this.inFlightBytes -= data.length;
        done();
        this.wake();
      }
    })();
    this.writes.add(p);
    void p.then(() => this.writes.delete(p));
  }

  private buildIdx(packSha: Buffer): Buffer {
    const n = this.entryOids.length;
    const order = Array.from({ length: n }, (_, i) => i);
    const oids = this.entryOids;
    // Lower-case hex sorts like the raw bytes it spells.
    order.sort((a, b) => (oids[a]! < oids[b]! ? -1 : oids[a]! > oids[b]! ? 1 : 0));
    let nLarge = 0;
    for (const off of this.entryOffsets) if (off > this.largeLimit || off >= 0x80000000) nLarge++;
    const size = 8 + 256 * 4 + n * (20 + 4 + 4) + nLarge * 8 + 40;
    const buf = Buffer.alloc(size);
    buf.writeUInt32BE(0xff744f63, 0);
    buf.writeUInt32BE(2, 4);
    const fanout = 8;
    const names = fanout + 1024;
    const crcs = names + n * 20;
    const offs = crcs + n * 4;
    const large = offs + n * 4;
    const counts = new Uint32Array(256);
    let li = 0;
    order.forEach((e, i) => {
      const oid = oids[e]!;
      counts[parseInt(oid.slice(0, 2), 16)]!++;
      buf.write(oid, names + i * 20, 'hex');
      buf.writeUInt32BE(this.entryCrcs[e]! >>> 0, crcs + i * 4);
      const off = this.entryOffsets[e]!;
      if (off > this.largeLimit || off >= 0x80000000) {
        buf.writeUInt32BE((0x80000000 | li) >>> 0, offs + i * 4);
        buf.writeBigUInt64BE(BigInt(off), large + li * 8);
        li++;
      } else {
        buf.writeUInt32BE(off, offs + i * 4);
      }
    });
    let cum = 0;
    for (let i = 0; i < 256; i++) {
      cum += counts[i]!;
      buf.writeUInt32BE(cum, fanout + i * 4);
    }
    const tail = large + nLarge * 8;
    packSha.copy(buf, tail);
    createHash('sha1')
      .update(buf.subarray(0, tail + 20))
      .digest()
      .copy(buf, tail + 20);
    return buf;
  }
}

type WorkerWithJob = Worker & { job?: Batch | undefined };

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

// The worker side: this same module, started with a tag in workerData. It only deflates; the
// pack's layout stays on the main thread.
if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_TAG]) {
  const port = parentPort;
  port.on('message', (req: DeflateRequest) => {
    const input = Buffer.from(req.input);
    const entries: Buffer[] = [];
    const lens: number[] = [];
    const crcs: number[] = [];
    let total = 0;
    let at = 0;
    for (let i = 0; i < req.lens.length; i++) {
      const len = req.lens[i]!;
      const hdr = entryHeader(req.types[i]!, len);
      const body = deflateSync(input.subarray(at, at + len), { level: req.level });
      at += len;
      entries.push(hdr, body);
      lens.push(hdr.length + body.length);
      crcs.push(crc32(body, crc32(hdr)));
      total += hdr.length + body.length;
    }
    // Incompressible content can come out bigger than the buffer lent for it.
    const outBuf = total <= req.out.byteLength ? req.out : new ArrayBuffer(total);
    const out = new Uint8Array(outBuf, 0, total);
    let o = 0;
    for (const e of entries) {
      out.set(e, o);
      o += e.length;
    }
    const reply: DeflateReply = { input: req.input, out: outBuf, outLen: total, lens, crcs };
    port.postMessage(reply, [req.input, outBuf]);
  });
}
