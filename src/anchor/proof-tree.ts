// Reading a proof: parse the .ots bytes and list its attestations with the message each one
// attests. The package's own allAttestations() keys a Map by message, so two attestations
// on one message (two calendars' Bitcoin answers) collapse into one; this walk keeps all.
import {
  ots,
  isBitcoin,
  isPending,
  quietPackageSync,
  type OtsDetached,
  type OtsTimestamp,
  type OtsAttestation,
} from './ots-package.js';

export interface AttestedMessage {
  attestation: OtsAttestation;
  /** the message the attestation commits to */
  msg: Buffer;
  /** the node holding it (where an upgrade is merged) */
  node: OtsTimestamp;
}

/** Far above any real proof (a few KB even with several calendars and Bitcoin paths); the
 * package copies the bytes into a JS array of numbers, 8+ bytes per byte. */
export const MAX_PROOF_BYTES = 1 << 20;
/** The reference client's recursion limit for a timestamp's tree. */
export const MAX_PROOF_DEPTH = 256;

export class ProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProofError';
  }
}

/**
 * Bytes → proof, or a ProofError. The package's deserializer has no nesting limit: a chain
 * of a few thousand ops parses, then overflows the stack in its own recursive walks
 * (getAttestations, serializeToBytes, merge) wherever they run later; a PendingAttestation
 * with a bad URI parses into an `undefined` attestation. Both are refused here, so that what
 * parses can be used.
 */
export function parseProof(bytes: Uint8Array): OtsDetached {
  if (bytes.length > MAX_PROOF_BYTES)
    throw new ProofError(`${bytes.length} bytes, more than any proof (${MAX_PROOF_BYTES})`);
  let d: OtsDetached;
  try {
    d = quietPackageSync(() => ots().DetachedTimestampFile.deserialize(Uint8Array.from(bytes)));
  } catch (err) {
    throw new ProofError(
      err instanceof RangeError
        ? `nested deeper than ${MAX_PROOF_DEPTH}`
        : `not an OpenTimestamps proof (${describeError(err)})`,
    );
  }
  checkTimestamp(d.timestamp);
  // What the package writes back must read again (trail writes proofs back after an upgrade):
  // a damaged attestation can read and yet be written with another length (found by the fuzz
  // in test/anchor/ots-fuzz.test.ts), and the proof written back would then read no more.
  try {
    quietPackageSync(() => ots().DetachedTimestampFile.deserialize(d.serializeToBytes()));
  } catch (err) {
    throw new ProofError(`not an OpenTimestamps proof once written back (${describeError(err)})`);
  }
  return d;
}

/** Throws a ProofError unless every node is usable and the tree is at most MAX_PROOF_DEPTH
 * deep (walked without recursion: the tree is what is being checked). */
export function checkTimestamp(t: OtsTimestamp): void {
  const stack: [OtsTimestamp, number][] = [[t, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_PROOF_DEPTH) throw new ProofError(`nested deeper than ${MAX_PROOF_DEPTH}`);
    if (!node || !Array.isArray(node.msg) || !Array.isArray(node.attestations) || !(node.ops instanceof Map))
      throw new ProofError('a node of the proof is malformed');
    if (node.attestations.some((a) => !a || typeof a._TAG !== 'function'))
      throw new ProofError('an attestation of the proof is malformed (e.g. a calendar URI with forbidden characters)');
    for (const [op, child] of node.ops) {
      if (!op || typeof op.call !== 'function') throw new ProofError('an operation of the proof is malformed');
      stack.push([child, depth + 1]);
    }
  }
}

function describeError(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return (
    (typeof m === 'string' ? m : '')
      .replace(/[^\x20-\x7e]+/g, ' ')
      .trim()
      .slice(0, 120) ||
    (err as Error)?.name ||
    'bad bytes'
  );
}

export function attestationsOf(t: OtsTimestamp): AttestedMessage[] {
  const out: AttestedMessage[] = [];
  const stack = [t];
  while (stack.length) {
    const node = stack.pop()!;
    for (const a of node.attestations) out.push({ attestation: a, msg: Buffer.from(node.msg), node });
    for (const child of node.ops.values()) stack.push(child);
  }
  return out;
}

export function pendingOf(t: OtsTimestamp): AttestedMessage[] {
  return attestationsOf(t).filter((x) => isPending(x.attestation));
}

export function bitcoinOf(t: OtsTimestamp): AttestedMessage[] {
  return attestationsOf(t).filter((x) => isBitcoin(x.attestation));
}
