import { hashObject, type ObjectType } from './object-format.js';

/**
 * Where new objects go. The snapshot code only ever calls `write`, so the engine behind it can
 * change with the size of the batch: loose objects for a handful (one file each, what git
 * itself does for small commits), a streamed packfile for a first snapshot of tens of
 * thousands (see src/record/README.md: creating ~50k loose files is where native git loses its
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
