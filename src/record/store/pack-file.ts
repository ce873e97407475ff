import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, constants as C } from 'node:fs';
import { join } from 'node:path';
import { syncPath } from '../../util/atomic.js';
import { phase } from '../../util/timing.js';

/**
 * Completes a pack whose entries fill bytes 12..`end` of `fh`: writes its header (the count
 * is known only now) and its trailing SHA-1, and makes it durable. Returns the checksum,
 * which names the pack.
 */
export async function sealPack(fh: fsp.FileHandle, count: number, end: number): Promise<Buffer> {
  const header = Buffer.alloc(12);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(count, 8);
  await fh.write(header, 0, 12, 0);
  // SHA-1 cannot be patched, so the checksum is taken over the finished file (page cache:
  // ~0.2 s for 160 MB).
  const sha = createHash('sha1');
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  for (let pos = 0; pos < end;) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, end - pos), pos);
    if (bytesRead === 0) throw new Error('PackWriter: pack shorter than written');
    sha.update(chunk.subarray(0, bytesRead));
    pos += bytesRead;
  }
  const packSha = sha.digest();
  phase('pack hashed');
  await fh.write(packSha, 0, 20, end);
  await fh.sync();
  phase('pack synced');
  return packSha;
}

/**
 * Gives a sealed temporary pack its name, `pack-<sha>.pack`, and its index: the .idx is made
 * durable under a temporary name and renamed last, since git only opens packs that have an
 * idx (a kill between the two renames leaves a `.pack` without `.idx`, ignored, as git's own
 * index-pack would).
 */
export async function installPack(packDir: string, tmpPack: string, packSha: Buffer, idx: Buffer): Promise<void> {
  const name = packSha.toString('hex');
  const finalPack = join(packDir, `pack-${name}.pack`);
  const finalIdx = join(packDir, `pack-${name}.idx`);
  const tmpIdx = join(packDir, `tmp_idx_${randomBytes(6).toString('hex')}`);
  const ih = await fsp.open(tmpIdx, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o444);
  try {
    await ih.writeFile(idx);
    await ih.sync();
  } finally {
    await ih.close();
  }
  // The same objects in the same order give the same name; the bytes are then identical.
  if (await exists(finalIdx)) {
    await fsp.rm(tmpPack, { force: true });
    await fsp.rm(tmpIdx, { force: true });
  } else {
    await fsp.rename(tmpPack, finalPack);
    await fsp.rename(tmpIdx, finalIdx);
  }
  await syncPath(packDir);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}
