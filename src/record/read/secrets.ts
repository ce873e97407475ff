import { createHmac, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../../util/errors.js';
import type { Repo } from '../repo/repo.js';

/**
 * A secret's place in the trail is a placeholder holding an HMAC of its content under a key
 * that never leaves the host: a change stays visible (and anchored), but a short secret
 * cannot be guessed from its digest, as it could from a plain hash.
 */
export async function secretKey(repo: Repo): Promise<Buffer> {
  const file = join(repo.stateDir, 'secret.key');
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  try {
    await fsp.writeFile(file, key, { flag: 'wx', mode: 0o600 });
    return key;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return fsp.readFile(file); // another writer made it first
    throw err;
  }
}

export function secretDigest(key: Buffer, content: Buffer): string {
  return 'hmac-sha256:' + createHmac('sha256', key).update(content).digest('hex');
}

export function placeholder(digest: string): Buffer {
  return Buffer.from(`trail: the content of this file is a secret and stays on its host\n${digest}\n`);
}
