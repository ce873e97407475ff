import { createHash } from 'node:crypto';

/** Where each entry of a pack lies, in the order it was placed: what the pack's .idx is
 * made from. */
export interface PackEntries {
  oids: string[];
  crcs: number[];
  offsets: number[];
}

/**
 * The .idx (version 2) of a pack: the fan-out table, the ids sorted, their CRC-32s and
 * offsets, the 64-bit offsets of entries past `largeLimit`, the pack's checksum and its own.
 * Git only opens a pack that has one, which is why it is renamed into place last.
 */
export function packIndex(entries: PackEntries, packSha: Buffer, largeLimit: number): Buffer {
  const { oids, crcs: entryCrcs, offsets } = entries;
  const n = oids.length;
  const order = Array.from({ length: n }, (_, i) => i);
  // Lower-case hex sorts like the raw bytes it spells.
  order.sort((a, b) => (oids[a]! < oids[b]! ? -1 : oids[a]! > oids[b]! ? 1 : 0));
  const isLarge = (off: number) => off > largeLimit || off >= 0x80000000;
  let nLarge = 0;
  for (const off of offsets) if (isLarge(off)) nLarge++;
  const buf = Buffer.alloc(8 + 256 * 4 + n * (20 + 4 + 4) + nLarge * 8 + 40);
  buf.writeUInt32BE(0xff744f63, 0);
  buf.writeUInt32BE(2, 4);
  const fanout = 8;
  const names = fanout + 1024;
  const crcs = names + n * 20;
  const offs = crcs + n * 4;
  const large = offs + n * 4;
  const counts = new Uint32Array(256);
  let li = 0;
  order.forEach((e, i) => {
    const oid = oids[e]!;
    counts[parseInt(oid.slice(0, 2), 16)]!++;
    buf.write(oid, names + i * 20, 'hex');
    buf.writeUInt32BE(entryCrcs[e]! >>> 0, crcs + i * 4);
    const off = offsets[e]!;
    if (isLarge(off)) {
      buf.writeUInt32BE((0x80000000 | li) >>> 0, offs + i * 4);
      buf.writeBigUInt64BE(BigInt(off), large + li * 8);
      li++;
    } else {
      buf.writeUInt32BE(off, offs + i * 4);
    }
  });
  let cum = 0;
  for (let i = 0; i < 256; i++) {
    cum += counts[i]!;
    buf.writeUInt32BE(cum, fanout + i * 4);
  }
  const tail = large + nLarge * 8;
  packSha.copy(buf, tail);
  createHash('sha1')
    .update(buf.subarray(0, tail + 20))
    .digest()
    .copy(buf, tail + 20);
  return buf;
}
