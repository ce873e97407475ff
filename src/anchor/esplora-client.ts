// The explorer verify trusts for block merkle roots (lite verification: the report says so).
// Asked through boundedFetch (deadlines, size caps, no redirects).
// Own client rather than the package's Esplora class, because that one turns every failure
// — explorer down, timeout, wrong root — into the same VerificationError, and trail must
// tell "the explorer could not be asked" (pending) from "the block says otherwise" (failed).

import { boundedFetch, FetchError, type FetchAnswer } from './bounded-fetch.js';

export interface BlockInfo {
  height: number;
  hash: string;
  /** esplora's byte order (reversed from the attested message) */
  merkleRoot: string;
  /** block header time, unix seconds */
  time: number;
}

export type BlockLookup =
  { kind: 'found'; block: BlockInfo } | { kind: 'no-such-block' } | { kind: 'unreachable'; reason: string };

export class EsploraClient {
  private readonly cache = new Map<number, Promise<BlockLookup>>();
  constructor(
    readonly url: string,
    private readonly timeoutMs: number,
  ) {}

  block(height: number): Promise<BlockLookup> {
    let p = this.cache.get(height);
    if (!p) {
      p = this.lookup(height);
      this.cache.set(height, p);
    }
    return p;
  }

  private get(path: string, maxBytes: number): Promise<FetchAnswer> {
    return boundedFetch(this.url.replace(/\/+$/, '') + path, { timeoutMs: this.timeoutMs, maxBytes });
  }

  private async lookup(height: number): Promise<BlockLookup> {
    try {
      const h = await this.get(`/block-height/${height}`, 1_000);
      if (h.status === 404) return { kind: 'no-such-block' };
      if (h.status !== 200) return { kind: 'unreachable', reason: `GET /block-height/${height}: HTTP ${h.status}` };
      const hash = h.body.toString('latin1').trim();
      if (!/^[0-9a-f]{64}$/.test(hash))
        return { kind: 'unreachable', reason: `GET /block-height/${height}: not a block hash` };
      // esplora's block JSON is ~1 KB (header fields, counts; no transactions).
      const b = await this.get(`/block/${hash}`, 64_000);
      if (b.status !== 200) return { kind: 'unreachable', reason: `GET /block/${hash}: HTTP ${b.status}` };
      let json: { merkle_root?: unknown; timestamp?: unknown } = {};
      try {
        json = JSON.parse(b.body.toString('utf8')) as typeof json;
      } catch {
        // an answer that is not JSON lacks the fields: said below
      }
      if (typeof json?.merkle_root !== 'string' || typeof json?.timestamp !== 'number') {
        return { kind: 'unreachable', reason: `GET /block/${hash}: no merkle_root/timestamp in the answer` };
      }
      return {
        kind: 'found',
        block: { height, hash, merkleRoot: json.merkle_root.toLowerCase(), time: json.timestamp },
      };
    } catch (err) {
      const reason = err instanceof FetchError ? err.reason : String((err as Error)?.message ?? err);
      return { kind: 'unreachable', reason };
    }
  }
}
