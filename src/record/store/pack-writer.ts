import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as C } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { crc32, deflate as deflateAsync } from 'node:zlib';
import { hashObject, type ObjectType } from './object-format.js';
import type { ObjectWriter } from './object-writer.js';
import { entryHeader, storedEntry } from './stored.js';
import { ExistingObjects } from './existing.js';
import { DeflatePool, emptyBatch, type Batch } from './deflate-pool.js';
import { packIndex } from './pack-index.js';
import { installPack, sealPack } from './pack-file.js';

// Why a packfile writer of our own (see src/record/README.md, "where first-snapshot time
// goes"): on a 50k-file first snapshot native git spends most of its time in zlib level 6 on
// one core and in creating ~47k loose-object files. Here every object goes into ONE pack,
// deflated at level 1 by worker threads (one per core, deflate-pool.ts), no deltas; a later
// background `git repack` can trade CPU for size when nobody is waiting.

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

/** From this many bytes of content a pack in 'auto' mode stores blobs uncompressed and
 * leaves compression to background maintenance (maintenance.ts): level 1 cost ~10 ns per
 * byte, most of a first snapshot's CPU; below, level 1 costs little and needs no repack. */
export const STORE_FROM = 8 * 1024 * 1024;

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

  private batch: Batch = emptyBatch();
  private readonly deflaters: DeflatePool;
  private inFlightBytes = 0;
  private pending = 0;
  private waiters: (() => void)[] = [];
  private readonly writes = new Set<Promise<void>>();
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
    this.deflaters = new DeflatePool(this.nWorkers, 4 * this.maxPending, {
      deflated: (b, out, reply, release) => this.placeDeflated(b, out, reply.lens, reply.crcs, release),
      lost: (b, err) => this.lostBatch(b, err),
    });
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
      // At level 0 only a big object comes here: stored too, and maintenance's to shrink (left
      // out, a first snapshot of big files was never repacked).
      if (this.level === 0) this.stored0 += content.length;
      if (content.length >= BIG_OBJECT || this.nWorkers === 0) this.deflateOnThreadpool(oid, TYPE_CODE[type], content);
      else await this.addToBatch(oid, TYPE_CODE[type], content);
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

  /** Adds an object to the batch being filled for the deflate workers, and sends the batch
   * when it is full, or at once when no worker has anything to do. */
  private async addToBatch(oid: string, type: number, content: Buffer): Promise<void> {
    const b = this.batch;
    b.parts.push(content);
    b.types.push(type);
    b.oids.push(oid);
    b.bytes += content.length;
    this.totalBytes += content.length;
    if (b.bytes >= BATCH_BYTES || b.parts.length >= BATCH_OBJECTS) {
      if (this.deflaters.started === 0 && this.totalBytes < WORKER_START_BYTES) await this.deflateSmallBatch();
      else this.dispatch();
    } else if (this.pending === 0 && this.deflaters.started > 0 && this.deflaters.hasRoom) {
      // Nothing else is being deflated: hand the partial batch over now rather than let a
      // core sit idle while the caller reads the next file.
      this.dispatch();
    }
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
   * Blob entries made elsewhere (reader threads, see read/read-pool.ts): each the entry header and
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
      if (this.deflaters.started === 0 && this.totalBytes < WORKER_START_BYTES) await this.deflateSmallBatch();
      else this.dispatch();
      while (this.pending > 0 && this.error === undefined) await this.settled();
      if (this.error !== undefined) throw this.error;
      if (this.entryOids.length === 0) {
        await this.discard();
        return;
      }
      const packSha = await sealPack(this.fh!, this.entryOids.length, this.end);
      await this.fh!.close();
      this.fh = undefined;
      const entries = { oids: this.entryOids, crcs: this.entryCrcs, offsets: this.entryOffsets };
      await installPack(this.packDir, this.tmpPack, packSha, packIndex(entries, packSha, this.largeLimit));
    } catch (err) {
      await this.discard();
      throw err;
    } finally {
      this.state = 'done';
      await this.deflaters.stop();
    }
  }

  /** Gives up: removes the temporary pack; nothing written becomes visible. */
  async abort(): Promise<void> {
    this.state = 'done';
    this.error ??= new Error('PackWriter: aborted');
    await this.deflaters.stop();
    await this.discard();
  }

  private async discard(): Promise<void> {
    this.deflaters.dropQueued();
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
      this.batch = emptyBatch();
      this.pending++;
      this.deflaters.send(b, this.level);
    } else this.deflaters.pump();
  }

  /** A batch back from a deflate worker: its entries go to the end of the pack. */
  private placeDeflated(b: Batch, out: Buffer, lens: number[], crcs: number[], release: () => void): void {
    let at = 0;
    for (let i = 0; i < lens.length; i++) {
      this.place(b.oids[i]!, crcs[i]!, this.end + at);
      at += lens[i]!;
    }
    this.inFlightBytes -= b.bytes;
    this.appendRaw(out, () => {
      release();
      this.pending--;
    });
  }

  /** A deflate worker failed: the pack cannot be completed. */
  private lostBatch(b: Batch | undefined, err: unknown): void {
    this.fail(err);
    if (b) {
      this.inFlightBytes -= b.bytes;
      this.pending--;
    }
    this.wake();
  }

  /** Deflates the current batch on libuv's threadpool, a few objects at a time (each async
   * deflate holds a zlib stream of its own). */
  private async deflateSmallBatch(): Promise<void> {
    const b = this.batch;
    this.batch = emptyBatch();
    for (let i = 0; i < b.parts.length; i++) {
      while (this.pending >= 4 && this.error === undefined) await this.settled();
      this.deflateOnThreadpool(b.oids[i]!, b.types[i]!, b.parts[i]!);
    }
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
}
