import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { errorCode } from './errors.js';

/** temp + fsync + rename + fsync of the folder: readers see the old file or the new one,
 * never half of one, and a crash leaves at most a temp file next to it. The rename is a change
 * of the folder: until the folder is synced too, a power cut may undo it (a queued alert, a
 * revert's journal gone). `durable` false skips both syncs, for derived data whose reader
 * detects a torn or empty file and rebuilds it. */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer | ((fh: fsp.FileHandle) => Promise<void>),
  { mode = 0o600, durable = true }: { mode?: number; durable?: boolean } = {},
): Promise<void> {
  const tmp = `${file}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    // A function writes the content itself, in pieces (a large file never held whole).
    if (typeof data === 'function') await data(fh);
    else await fh.writeFile(data);
    // Not durable: derived data that its reader checks whole (a crash may leave it empty).
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await fsp.rename(tmp, file);
  if (durable)
    await syncPath(dirname(file)).catch((err: unknown) => {
      // A filesystem that cannot sync a folder (some FUSE ones: EINVAL) has nothing more to
      // give: the rename is as durable as it can make it.
      if (errorCode(err) !== 'EINVAL') throw err;
    });
}

/** fsync of a file or a folder by its path. */
export async function syncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
