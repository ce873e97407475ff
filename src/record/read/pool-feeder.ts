import type { ReadJob, ReadOutcome, ReadPool } from './read-pool.js';
import type { Queued } from './file-saver.js';

/** A batch for a reader thread: few enough files to keep both threads fed, small enough
 * in bytes to bound what is in flight (two batches per thread). Each batch's answer is a
 * message (status --full at 50k: 64 files a batch was ~10% slower than 256). */
const BATCH_FILES = 256;
const BATCH_BYTES = 2 * 1024 * 1024;

type Answer = Promise<{ outcomes: ReadOutcome[]; release: () => void }>;

/**
 * Feeds files to the reader threads in batches and hands their answers on in the order the
 * batches were sent (listing order), at most two batches per thread ahead of the answers.
 */
export class PoolFeeder {
  private readonly inflight: { items: Queued[]; outcome: Answer }[] = [];
  private batch: { items: Queued[]; jobs: ReadJob[]; bytes: number } = { items: [], jobs: [], bytes: 0 };

  constructor(
    private readonly pool: ReadPool,
    private readonly answered: (items: Queued[], outcomes: ReadOutcome[], release: () => void) => Promise<void>,
  ) {}

  async add(item: Queued, job: ReadJob, size: number): Promise<void> {
    const b = this.batch;
    b.items.push(item);
    b.jobs.push(job);
    b.bytes += size;
    if (b.items.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) await this.send();
  }

  /** Sends what is left and waits for every answer. */
  async drain(): Promise<void> {
    await this.send();
    while (this.inflight.length) await this.applyOldest();
  }

  /** Stops the threads; after a failure midway, the answers still due are of no use. */
  async close(): Promise<void> {
    for (const f of this.inflight) f.outcome.catch(() => {});
    await this.pool.close();
  }

  private async send(): Promise<void> {
    if (!this.batch.items.length) return;
    this.inflight.push({ items: this.batch.items, outcome: this.pool.read(this.batch.jobs) });
    this.batch = { items: [], jobs: [], bytes: 0 };
    while (this.inflight.length > 2 * this.pool.threads) await this.applyOldest();
  }

  private async applyOldest(): Promise<void> {
    const { items, outcome } = this.inflight.shift()!;
    const { outcomes, release } = await outcome;
    await this.answered(items, outcomes, release);
  }
}
