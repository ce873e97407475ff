// A proof's Bitcoin attestations against the blocks the explorer reports. Independent of
// git, so the same code checks trail's notes and any other .ots (the package's real
// hello-world vector in the tests).
import type { EsploraClient } from './esplora-client.js';
import type { OtsTimestamp } from './ots-package.js';
import { bitcoinOf } from './proof-tree.js';

export interface BitcoinCheck {
  height: number;
  blockHash?: string;
  /** block header time, unix seconds */
  blockTime?: number;
  outcome: 'matches' | 'mismatch' | 'no-such-block' | 'unchecked';
  detail?: string;
}

export interface BlockCheckResult {
  checks: BitcoinCheck[];
  /** earliest time of a block that matched, unix seconds */
  anchoredAt?: number;
  failures: { kind: 'block-mismatch' | 'no-such-block'; message: string }[];
}

/** explorer undefined = offline: attestations are listed as unchecked. */
export async function checkAgainstBlocks(
  t: OtsTimestamp,
  explorer: EsploraClient | undefined,
): Promise<BlockCheckResult> {
  const result: BlockCheckResult = { checks: [], failures: [] };
  for (const b of bitcoinOf(t)) {
    const height = b.attestation.height!;
    const check: BitcoinCheck = { height, outcome: 'unchecked' };
    result.checks.push(check);
    if (!explorer) {
      check.detail = 'offline: not checked against a block';
      continue;
    }
    const found = await explorer.block(height);
    if (found.kind === 'unreachable') {
      check.detail = `explorer: ${found.reason}`;
    } else if (found.kind === 'no-such-block') {
      check.outcome = 'no-such-block';
      result.failures.push({
        kind: 'no-such-block',
        message: `Bitcoin attestation names block ${height}, which the explorer does not have`,
      });
    } else {
      check.blockHash = found.block.hash;
      check.blockTime = found.block.time;
      // Bitcoin shows hashes byte-reversed; the attested message is in internal order.
      const attested = Buffer.from(b.msg).reverse().toString('hex');
      if (b.msg.length === 32 && attested === found.block.merkleRoot) {
        check.outcome = 'matches';
        result.anchoredAt = Math.min(result.anchoredAt ?? Infinity, found.block.time);
      } else {
        check.outcome = 'mismatch';
        result.failures.push({
          kind: 'block-mismatch',
          message: `Bitcoin attestation for block ${height} does not match its merkle root (attested ${attested}, block has ${found.block.merkleRoot})`,
        });
      }
    }
  }
  return result;
}
