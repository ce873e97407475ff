import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../../util/threads.js';
import { WORKER_TAG, type DeflateReply, type DeflateRequest } from './deflate-worker.js';

/** Objects a pack writer sends to a deflate worker as one message. */
export interface Batch {
  parts: Buffer[];
  types: number[];
  oids: string[];
  bytes: number;
}

export const emptyBatch = (): Batch => ({ parts: [], types: [], oids: [], bytes: 0 });

/** What the pool tells its pack writer. */
export interface DeflateListener {
  /** A batch came back deflated: `out` holds its entries back to back (`lens`, `crcs` per
   * entry). `release` lends `out`'s buffer back once it is on the disk. */
  deflated(b: Batch, out: Buffer, reply: DeflateReply, release: () => void): void;
  /** A worker failed or exited; `b` is the batch it held, if any (lost with it). */
  lost(b: Batch | undefined, err: unknown): void;
}

/** Batch buffers travel main → worker → main and are used again: otherwise each of the ~1000
 * batches of a 50k-file snapshot leaves two dead buffers in two V8 heaps, collected lazily
 * (measured: 10–25 MB of peak RSS). */
const POOLED = 1024 * 1024;

type WorkerWithJob = Worker & { job?: Batch | undefined };

/**
 * The deflate workers of one pack writer (deflate-worker.ts), started as batches come, up to
 * `size`; a batch waits in the queue until one is idle. An idle worker is unref'd, so that
 * it never keeps the process alive.
 */
export class DeflatePool {
  private workers: WorkerWithJob[] = [];
  private idle: WorkerWithJob[] = [];
  private readonly queue: { b: Batch; level: number }[] = [];
  private buffers: ArrayBuffer[] = [];

  constructor(
    private readonly size: number,
    /** Buffers kept for reuse at most: as many as batches may be in flight, twice over. */
    private readonly keepBuffers: number,
    private readonly listener: DeflateListener,
  ) {}

  /** Workers started so far. */
  get started(): number {
    return this.workers.length;
  }

  /** Whether a batch sent now would be deflated at once. */
  get hasRoom(): boolean {
    return this.idle.length > 0 || this.workers.length < this.size;
  }

  send(b: Batch, level: number): void {
    this.queue.push({ b, level });
    this.pump();
  }

  /** Batches still queued are dropped (the pack they were for is given up). */
  dropQueued(): void {
    this.queue.length = 0;
  }

  pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w && this.workers.length < this.size) w = this.start();
      if (!w) return;
      const { b, level } = this.queue.shift()!;
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
      const req: DeflateRequest = { input, out, lens: b.parts.map((p) => p.length), types: b.types, level };
      w.ref();
      w.job = b;
      w.postMessage(req, [input, out]);
    }
  }

  async stop(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    this.idle = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private takeBuffer(size: number): ArrayBuffer {
    return size <= POOLED ? (this.buffers.pop() ?? new ArrayBuffer(POOLED)) : new ArrayBuffer(size);
  }

  private giveBuffer(buf: ArrayBuffer): void {
    if (buf.byteLength === POOLED && this.buffers.length < this.keepBuffers) this.buffers.push(buf);
  }

  private start(): WorkerWithJob {
    // A worker's garbage is a few short-lived buffers per batch; a small young generation
    // collects them sooner (measured at 50k files: -25 MB peak RSS, no more CPU).
    const w = new Worker(new URL('./deflate-worker.js', import.meta.url), {
      workerData: { [WORKER_TAG]: true },
      execArgv: workerExecArgv(),
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    }) as WorkerWithJob;
    w.on('message', (reply: DeflateReply) => {
      const b = w.job!;
      w.job = undefined;
      w.unref();
      this.idle.push(w);
      this.giveBuffer(reply.input);
      const out = Buffer.from(reply.out, 0, reply.outLen);
      this.listener.deflated(b, out, reply, () => this.giveBuffer(reply.out));
      this.pump();
    });
    const lost = (err: unknown) => {
      const b = w.job;
      w.job = undefined;
      this.workers = this.workers.filter((x) => x !== w);
      this.listener.lost(b, err);
    };
    w.on('error', lost);
    w.on('exit', (code) => {
      if (w.job) lost(new Error(`PackWriter: deflate worker exited (${code})`));
    });
    this.workers.push(w);
    return w;
  }
}
