// Which writer a batch of objects gets: loose objects for a handful, a pack for more, and,
// when the count is not known beforehand (a window of trail watch), loose until it is.
import { LooseWriter } from './loose-writer.js';
import { hashObject, type ObjectType } from './object-format.js';
import type { ObjectWriter } from './object-writer.js';
import { PackWriter, type PackWriterOptions } from './pack-writer.js';

/** Below this many objects, loose objects. Measured (bench/crossover.ts, this machine): a
 * pack is already faster from ~3 objects (one fsync for the pack instead of one per loose
 * object: 8 objects 4 ms vs 23 ms, 100 objects 29 ms vs 188 ms). The threshold sits higher
 * because every pack is one more file that each object lookup may search until maintenance
 * repacks (git explodes fetched packs below 100 objects for the same reason,
 * transfer.unpackLimit): between 3 and 16 objects the gain is tens of milliseconds. */
export const PACK_THRESHOLD = 16;

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
    // Distinct ids (held by id), so no two writes race for one object's file. Every write is
    // let finish before a failure is thrown: one still under way when the caller aborts
    // would leave its temp file after the abort had cleared the others (a full disk).
    const writes = await Promise.allSettled(this.takeHeld().map((h) => this.loose.write(h.type, h.content)));
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed) throw failed.reason;
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
