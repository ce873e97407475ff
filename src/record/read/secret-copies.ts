import { LayeredState } from '../model/layered.js';
import type { State, Entry } from '../model/state.js';
import type { ObjectWriter } from '../store/object-writer.js';
import type { AsSecret } from './as-secret.js';
import { placeholder } from './secrets.js';

/**
 * Copies of secrets at paths no rule names (`cp shadow shadow.old`, or `mv shadow x`): their
 * content is a secret's, so they are recorded as secrets too. Found soundly and cheaply: a
 * copy has its secret's size, so only a file read now whose size is a secret's is digested
 * under the key (read/file-reader.ts, read-pool.ts) and its digest compared with the secrets'.
 * The secrets are those the trail recorded (their sizes and keyed digests are in the recorded
 * state: nothing more is stored) and those read in this scan (sizes from the listing, digests
 * once read). Every other file costs one set lookup. An empty file is never one: it holds
 * nothing to keep.
 */
export class SecretCopies {
  /** Sizes of the secrets, known before anything is read. */
  private readonly sizes = new Set<number>();
  /** Keyed digest → the paths that are secrets with it. */
  private readonly digests = new Map<string, string[]>();
  private readonly candidates: { path: string; entry: Entry; keyed: string }[] = [];
  private readonly recorded: Map<string, RecordedSecret>;

  constructor(recorded: State) {
    this.recorded = recordedSecrets(recorded);
    for (const [path, { size, digest }] of this.recorded) {
      if (size > 0) this.sizes.add(size);
      this.add(digest, path);
    }
  }

  /** A secret about to be read in this scan: its size, from the listing. */
  willRead(size: number): void {
    if (size > 0) this.sizes.add(size);
  }

  /** Whether a file of this size, not a secret by its path, is to be digested under the key. */
  wants(size: number): boolean {
    return size > 0 && this.sizes.has(size);
  }

  /** A secret read in this scan, with its keyed digest. */
  read(path: string, digest: string): void {
    this.add(digest, path);
  }

  private add(digest: string, path: string): void {
    const paths = this.digests.get(digest);
    if (!paths) this.digests.set(digest, [path]);
    else if (!paths.includes(path)) paths.push(path);
  }

  /** A file that was wanted, and its keyed digest: settled once every secret is read (a copy
   * may be read before its secret). */
  candidate(path: string, entry: Entry, keyed: string): void {
    this.candidates.push({ path, entry, keyed });
  }

  /** Makes secrets of the candidates that are copies of one; their real bytes were stored as
   * any file's (local objects, named only by the local secrets ref from now on). */
  async settle(writer: ObjectWriter, said: AsSecret[]): Promise<void> {
    for (const { path, entry, keyed } of this.candidates) {
      // Another path's: a file recorded as a secret that no rule names any more (taken out of
      // the `secrets` setting) is recorded as it is, not kept a secret by its own old entry.
      const of = this.digests.get(keyed)?.find((p) => p !== path);
      // Recorded as a copy and unchanged: still one, though its secret is gone or changed
      // since (`mv shadow x` must not publish x once shadow is no longer recorded).
      const was = this.recorded.get(path);
      const still = !!was?.copy && was.digest === keyed;
      if ((of === undefined && !still) || entry.meta.skipped) continue;
      entry.meta.secret = keyed;
      entry.meta.secretCopy = true;
      if (entry.meta.digest !== undefined) entry.meta.digest = keyed;
      else {
        entry.secretOid = entry.oid;
        entry.oid = await writer.write('blob', placeholder(keyed));
      }
      if (of !== undefined && !still) said.push({ path, of, how: 'copy' });
    }
  }
}

export interface RecordedSecret {
  size: number;
  digest: string;
  copy: boolean;
}

const recordedOf = new WeakMap<State, Map<string, RecordedSecret>>();

/** The secrets of a recorded state: path → size and keyed digest. Made once per state (one
 * that is not changed after). A layered state (a window of trail watch: a few paths changed
 * over a state of 200k) carries its base's forward through what differs, so that each commit
 * costs the changes, not the tree (a whole walk took ~5 ms at 50k files, ~20 ms at 200k, on
 * every commit). Of the lines read back from the stat cache, only those that hold
 * `,"secret":` (only ever a key, see recordedAs) are parsed. */
export function recordedSecrets(state: State): Map<string, RecordedSecret> {
  let out = recordedOf.get(state);
  if (out) return out;
  if (state instanceof LayeredState) {
    out = new Map(recordedSecrets(state.base));
    for (const [p, e] of state.changes()) {
      out.delete(p);
      if (e) addRecorded(out, p, e);
    }
  } else {
    out = new Map();
    for (const [p, e] of state) addRecorded(out, p, e);
  }
  recordedOf.set(state, out);
  return out;
}

function addRecorded(out: Map<string, RecordedSecret>, p: string, e: Entry): void {
  if (e.line !== undefined && !e.line.includes(',"secret":')) return;
  const { secret, size, secretCopy } = e.meta;
  if (secret !== undefined && size !== undefined) out.set(p, { size, digest: secret, copy: !!secretCopy });
}
