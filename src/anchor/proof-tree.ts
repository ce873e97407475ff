// Reading a proof: parse the .ots bytes and list its attestations with the message each one
// attests. The package's own allAttestations() keys a Map by message, so two attestations
// on one message (two calendars' Bitcoin answers) collapse into one; this walk keeps all.
import { ots, isBitcoin, isPending, type OtsDetached, type OtsTimestamp, type OtsAttestation } from './ots-package.js';

export interface AttestedMessage {
  attestation: OtsAttestation;
  /** the message the attestation commits to */
  msg: Buffer;
  /** the node holding it (where an upgrade is merged) */
  node: OtsTimestamp;
}

export function parseProof(bytes: Uint8Array): OtsDetached {
  return ots().DetachedTimestampFile.deserialize(Uint8Array.from(bytes));
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
