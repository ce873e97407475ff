// An esplora-shaped block explorer (the subset blockstream.info/api serves that OTS
// verification uses): GET /block-height/<n> → block hash as text, GET /block/<hash> → JSON
// with merkle_root (byte-reversed hex, as esplora shows it) and timestamp. Blocks come from
// OtsCalendarStub.mine(), or are added by hand (the real block 358391).
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubBlock {
  height: number;
  merkleRoot: string;
  time: number;
}

export class EsploraStub {
  readonly counts = { height: 0, block: 0 };
  private server?: Server;
  private port = 0;
  private byHeight = new Map<number, string>();
  private byHash = new Map<string, StubBlock>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  addBlock(b: StubBlock): string {
    const hash = createHash('sha256')
      .update(`${b.height}:${b.merkleRoot}:${b.time}`)
      .digest()
      .reverse()
      .toString('hex');
    this.byHeight.set(b.height, hash);
    this.byHash.set(hash, b);
    return hash;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      let m = /^\/block-height\/(\d+)$/.exec(path);
      if (req.method === 'GET' && m) {
        this.counts.height++;
        const hash = this.byHeight.get(Number(m[1]));
        if (!hash) return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Block not found');
        return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(hash);
      }
      m = /^\/block\/([0-9a-f]{64})$/.exec(path);
      if (req.method === 'GET' && m) {
        this.counts.block++;
        const b = this.byHash.get(m[1]!);
        if (!b) return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Block not found');
        const json = {
          id: m[1],
          height: b.height,
          version: 536870912,
          timestamp: b.time,
          mediantime: b.time - 600,
          tx_count: 5,
          size: 1000,
          weight: 4000,
          merkle_root: b.merkleRoot,
          previousblockhash: '00'.repeat(32),
          nonce: 0,
          bits: 0x1d00ffff,
          difficulty: 1,
        };
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(json));
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found');
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}
