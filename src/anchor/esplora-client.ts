// The explorer verify trusts for block merkle roots (lite verification: the report says so).
// Own client rather than the package's Esplora class, because that one turns every failure
// — explorer down, timeout, wrong root — into the same VerificationError, and trail must
// tell "the explorer could not be asked" (pending) from "the block says otherwise" (failed).

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

  private async get(path: string): Promise<Response> {
    return fetch(this.url.replace(/\/+$/, '') + path, { signal: AbortSignal.timeout(this.timeoutMs) });
  }

  private async lookup(height: number): Promise<BlockLookup> {
    try {
      const h = await this.get(`/block-height/${height}`);
      if (h.status === 404) return { kind: 'no-such-block' };
      if (!h.ok) return { kind: 'unreachable', reason: `GET /block-height/${height}: HTTP ${h.status}` };
      const hash = (await h.text()).trim();
      if (!/^[0-9a-f]{64}$/.test(hash))
        return { kind: 'unreachable', reason: `GET /block-height/${height}: not a block hash` };
      const b = await this.get(`/block/${hash}`);
      if (!b.ok) return { kind: 'unreachable', reason: `GET /block/${hash}: HTTP ${b.status}` };
      const json = (await b.json()) as { merkle_root?: unknown; timestamp?: unknown };
      if (typeof json.merkle_root !== 'string' || typeof json.timestamp !== 'number') {
        return { kind: 'unreachable', reason: `GET /block/${hash}: no merkle_root/timestamp in the answer` };
      }
      return {
        kind: 'found',
        block: { height, hash, merkleRoot: json.merkle_root.toLowerCase(), time: json.timestamp },
      };
    } catch (err) {
      const e = err as Error;
      const reason =
        e?.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : String((e as { cause?: Error })?.cause?.message ?? e?.message ?? err);
      return { kind: 'unreachable', reason };
    }
  }
}
