// A local OpenTimestamps calendar that speaks the reference server's wire protocol, with
// its own serializer (written from the format notes, independent of the package under test,
// so the package's deserializer is checked against a second implementation):
//   POST /digest          → timestamp rooted at the posted digest: append(nonce16), sha256,
//                           prepend(time4), append(hmac8), PendingAttestation(calendar URL)
//   GET /timestamp/<hex>  → 404 "Pending confirmation in Bitcoin blockchain" until mine(),
//                           then the continuation: calendar merkle tree, a transaction
//                           committing to its root (sha256d = txid), the block's merkle tree
//                           (sha256d pairs), BitcoinBlockHeaderAttestation(height)
//                         → 404 "Not found" for an unknown commitment, 400 on bad hex.
// Fault modes make it down (connections dropped), slow, a 500, or garbage.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type CalendarMode = 'ok' | 'slow' | 'error500' | 'garbage' | 'empty-timestamp';

const PENDING_TAG = Buffer.from('83dfe30d2ef90c8e', 'hex');
const BITCOIN_TAG = Buffer.from('0588960d73d71901', 'hex');
const OP = { sha256: 0x08, append: 0xf0, prepend: 0xf1 } as const;

export function varuint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

export function varbytes(b: Buffer): Buffer {
  return Buffer.concat([varuint(b.length), b]);
}

export function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** A linear chain of ops ending in one attestation, and the message it arrives at. */
class Chain {
  private parts: Buffer[] = [];
  constructor(public msg: Buffer) {}
  append(arg: Buffer): this {
    this.parts.push(Buffer.from([OP.append]), varbytes(arg));
    this.msg = Buffer.concat([this.msg, arg]);
    return this;
  }
  prepend(arg: Buffer): this {
    this.parts.push(Buffer.from([OP.prepend]), varbytes(arg));
    this.msg = Buffer.concat([arg, this.msg]);
    return this;
  }
  sha256(): this {
    this.parts.push(Buffer.from([OP.sha256]));
    this.msg = sha256(this.msg);
    return this;
  }
  /** Serialized ops + the final attestation (each node has one item: no 0xff markers). */
  end(attestationTag: Buffer, payload: Buffer): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([0x00]), attestationTag, varbytes(payload)]);
  }
}

export interface MinedBlock {
  height: number;
  time: number;
  /** block merkle root as esplora shows it (byte-reversed hex) */
  merkleRoot: string;
  /** how many commitments this block confirmed */
  confirmed: number;
}

export class OtsCalendarStub {
  mode: CalendarMode = 'ok';
  /** how long 'slow' mode holds each answer */
  slowMs = 5_000;
  readonly counts = { digest: 0, timestamp: 0 };
  private server?: Server;
  private port = 0;
  private isDown = false;
  private readonly hmacKey = randomBytes(32);
  private pending = new Map<string, Buffer>(); // hex commitment → commitment
  private confirmed = new Map<string, Buffer>(); // hex commitment → serialized continuation
  private lastTime = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      if (this.isDown) socket.destroy();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** A calendar that is down: every connection to its URL is dropped (the client sees a
   * reset). It keeps its port meanwhile: given up and bound again, the port could be taken
   * by any other listen(0) on the machine. */
  down(): void {
    this.isDown = true;
    this.server?.closeAllConnections(); // kept-alive ones too
  }

  /** Back up, on the same URL. */
  up(): void {
    this.isDown = false;
  }

  /** Gone for good (the end of a test file): the port is given up. */
  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 10_000) return void this.send(res, 413, 'text/plain', Buffer.from('Request too large'));
      body.push(chunk as Buffer);
    }
    const url = new URL(req.url ?? '/', 'http://x');
    // Held, but no longer than the client waits: a pending timer would keep the test's
    // process alive long after its tests are done (it held one file open for minutes).
    if (this.mode === 'slow')
      await new Promise<void>((r) => {
        const timer = setTimeout(r, this.slowMs);
        res.on('close', () => {
          clearTimeout(timer);
          r();
        });
      });
    if (res.destroyed) return;
    if (this.mode === 'error500') return void this.send(res, 500, 'text/plain', Buffer.from('Internal Server Error'));
    if (this.mode === 'garbage') return void this.send(res, 200, 'application/octet-stream', randomBytes(64));

    if (req.method === 'POST' && url.pathname === '/digest') {
      this.counts.digest++;
      const digest = Buffer.concat(body);
      if (digest.length === 0 || digest.length > 64)
        return void this.send(res, 400, 'text/plain', Buffer.from('digest too long'));
      if (this.mode === 'empty-timestamp') {
        // Parses as a timestamp but attests nothing: one op leading to an unknown attestation.
        const t = new Chain(digest).sha256().end(Buffer.from('0000000000000001', 'hex'), Buffer.alloc(0));
        return void this.send(res, 200, 'application/octet-stream', t);
      }
      return void this.send(res, 200, 'application/octet-stream', this.pendingStamp(digest));
    }
    const m = /^\/timestamp\/(.*)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      this.counts.timestamp++;
      const hex = m[1]!;
      if (!/^([0-9a-f]{2})+$/.test(hex))
        return void this.send(res, 400, 'text/plain', Buffer.from('commitment must be hex'));
      const done = this.confirmed.get(hex);
      if (done) return void this.send(res, 200, 'application/octet-stream', done);
      if (this.pending.has(hex))
        return void this.send(res, 404, 'text/plain', Buffer.from('Pending confirmation in Bitcoin blockchain'));
      return void this.send(res, 404, 'text/plain', Buffer.from('Not found'));
    }
    this.send(res, 404, 'text/plain', Buffer.from('Not found'));
  }

  private send(res: ServerResponse, status: number, type: string, body: Buffer): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
    res.end(body);
  }

  private pendingStamp(digest: Buffer): Buffer {
    const time = Buffer.alloc(4);
    this.lastTime = Math.max(this.lastTime + 1, Math.floor(Date.now() / 1000));
    time.writeUInt32BE(this.lastTime);
    const c = new Chain(digest).append(randomBytes(16)).sha256().prepend(time);
    const mac = createHmac('sha256', this.hmacKey).update(c.msg).digest().subarray(0, 8);
    c.append(mac);
    this.pending.set(c.msg.toString('hex'), c.msg);
    return c.end(PENDING_TAG, varbytes(Buffer.from(this.url, 'ascii')));
  }

  /** Put every pending commitment into a Bitcoin block at `height`; the esplora stub serves
   * the returned block. Commitments stay pending if there are none. */
  mine(height: number, time: number): MinedBlock {
    const commitments = [...this.pending.values()];
    this.pending.clear();
    // Calendar merkle tree over sha256(commitment): left child appends its sibling,
    // right child prepends it, then sha256 — the same shape as the reference calendar.
    const chains = commitments.map((c) => new Chain(c).sha256());
    let level = chains.map((ch, i) => ({ msg: ch.msg, members: [i] }));
    while (level.length > 1) {
      const next: typeof level = [];
      for (let i = 0; i < level.length; i += 2) {
        const l = level[i]!;
        const r = level[i + 1];
        if (!r) {
          next.push(l);
          continue;
        }
        for (const k of l.members) chains[k]!.append(r.msg).sha256();
        for (const k of r.members) chains[k]!.prepend(l.msg).sha256();
        next.push({ msg: sha256(Buffer.concat([l.msg, r.msg])), members: [...l.members, ...r.members] });
      }
      level = next;
    }
    // A transaction whose output script carries the root: txid = sha256d(tx).
    const txPrefix = Buffer.concat([
      Buffer.from('0100000001', 'hex'),
      randomBytes(36),
      Buffer.from('00ffffffff01000000000000000022006a20', 'hex'),
    ]);
    const txSuffix = Buffer.from('00000000', 'hex');
    for (const ch of chains) ch.prepend(txPrefix).append(txSuffix).sha256().sha256();
    const rootMsg = level[0]?.msg ?? randomBytes(32);
    const txid = sha256(sha256(Buffer.concat([txPrefix, rootMsg, txSuffix])));
    // The block: coinbase, our tx, two other transactions; Bitcoin's merkle tree
    // (sha256d of pairs, the last one paired with itself when the count is odd).
    const txids = [randomBytes(32), txid, randomBytes(32), randomBytes(32), randomBytes(32)];
    let pos = 1;
    let layer = txids;
    while (layer.length > 1) {
      if (layer.length % 2) layer = [...layer, layer[layer.length - 1]!];
      const sibling = layer[pos ^ 1]!;
      for (const ch of chains) {
        if (pos % 2 === 0) ch.append(sibling);
        else ch.prepend(sibling);
        ch.sha256().sha256();
      }
      const next: Buffer[] = [];
      for (let i = 0; i < layer.length; i += 2) next.push(sha256(sha256(Buffer.concat([layer[i]!, layer[i + 1]!]))));
      layer = next;
      pos = pos >> 1;
    }
    const root = layer[0]!;
    commitments.forEach((c, i) => {
      if (!chains[i]!.msg.equals(root)) throw new Error('calendar stub: merkle path does not reach the block root');
      this.confirmed.set(c.toString('hex'), chains[i]!.end(BITCOIN_TAG, varuint(height)));
    });
    return { height, time, merkleRoot: Buffer.from(root).reverse().toString('hex'), confirmed: commitments.length };
  }
}
