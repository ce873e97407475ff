// The deflate worker thread: a pack writer's batches of objects come in, their pack entries
// (header + zlib data) and CRC-32s go back. It only deflates; the pack's layout stays on the
// main thread (deflate-pool.ts hands the batches out, pack-writer.ts places the entries).
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { crc32, deflateSync } from 'node:zlib';
import { entryHeader } from './stored.js';

/** In workerData: this module was started as a deflate worker (and not merely imported in
 * some other thread). */
export const WORKER_TAG = 'trail-pack-deflate';

export interface DeflateRequest {
  input: ArrayBuffer;
  /** Where the entries go, when they fit. */
  out: ArrayBuffer;
  lens: number[];
  types: number[];
  level: number;
}
export interface DeflateReply {
  input: ArrayBuffer;
  out: ArrayBuffer;
  outLen: number;
  lens: number[];
  crcs: number[];
}

/** The entries of one request, laid back to back (in the buffer lent for them when they fit). */
export function deflateBatch(req: DeflateRequest): DeflateReply {
  const input = Buffer.from(req.input);
  const entries: Buffer[] = [];
  const lens: number[] = [];
  const crcs: number[] = [];
  let total = 0;
  let at = 0;
  for (let i = 0; i < req.lens.length; i++) {
    const len = req.lens[i]!;
    const hdr = entryHeader(req.types[i]!, len);
    const body = deflateSync(input.subarray(at, at + len), { level: req.level });
    at += len;
    entries.push(hdr, body);
    lens.push(hdr.length + body.length);
    crcs.push(crc32(body, crc32(hdr)));
    total += hdr.length + body.length;
  }
  // Incompressible content can come out bigger than the buffer lent for it.
  const outBuf = total <= req.out.byteLength ? req.out : new ArrayBuffer(total);
  const out = new Uint8Array(outBuf, 0, total);
  let o = 0;
  for (const e of entries) {
    out.set(e, o);
    o += e.length;
  }
  return { input: req.input, out: outBuf, outLen: total, lens, crcs };
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_TAG]) {
  const port = parentPort;
  port.on('message', (req: DeflateRequest) => {
    const reply = deflateBatch(req);
    port.postMessage(reply, [reply.input, reply.out]);
  });
}
