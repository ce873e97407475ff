import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { syncPath } from '../../util/atomic.js';
import { ExistingObjects } from './existing.js';
import { hashObject, type ObjectType } from './object-format.js';
import type { ObjectWriter } from './object-writer.js';

/** Writes loose objects the way git does: objects/ab/cdef…, zlib, each into a temp file that
 * becomes the object only once its bytes are durable, so a crash never leaves a torn object.
 * The fsyncs wait for finish() and go out together (the kernel commits concurrent fsyncs of
 * one filesystem in one journal commit): a commit of trail watch writes a dozen objects, and
 * a dozen fsyncs one after the other were most of its time. */
export class LooseWriter implements ObjectWriter {
  private readonly dirsMade = new Set<string>();
  private readonly pending = new Map<string, { tmp: string; file: string; dir: string }>();
  private packed: Promise<ExistingObjects> | undefined;
  constructor(private readonly gitDir: string) {}

  async write(type: ObjectType, content: Buffer): Promise<string> {
    const oid = hashObject(type, content);
    if (this.pending.has(oid)) return oid;
    const dir = join(this.gitDir, 'objects', oid.slice(0, 2));
    const file = join(dir, oid.slice(2));
    try {
      await fsp.access(file);
      return oid; // already there: objects are immutable
    } catch {
      /* not there yet */
    }
    // Or in a pack: a file re-read because its stat data could not be trusted (it changed
    // just before the last snapshot) must not come back as a loose copy of a packed object.
    this.packed ??= ExistingObjects.load(join(this.gitDir, 'objects'));
    if ((await this.packed).has(oid)) return oid;
    if (!this.dirsMade.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirsMade.add(dir);
    }
    const data = deflateSync(Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]), { level: 1 });
    // git's own temp prefix: `git prune` knows to clean it up after a crash.
    const tmp = join(dir, `tmp_obj_${process.pid}_${Math.random().toString(36).slice(2)}`);
    const fh = await fsp.open(tmp, 'wx', 0o444);
    try {
      await fh.writeFile(data);
      await fh.close();
    } catch (err) {
      // A full disk fails the write or the close: either way the temp file goes, whatever
      // the close says (a second close of a handle is harmless).
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    this.pending.set(oid, { tmp, file, dir });
    return oid;
  }

  async finish(): Promise<void> {
    const items = [...this.pending.values()];
    // The bytes first, then the names, then the folders that hold the names.
    await Promise.all(items.map((it) => syncPath(it.tmp)));
    await Promise.all(items.map((it) => fsp.rename(it.tmp, it.file)));
    await Promise.all([...new Set(items.map((it) => it.dir))].map(syncPath));
    this.pending.clear();
  }

  async abort(): Promise<void> {
    await Promise.all([...this.pending.values()].map((it) => fsp.rm(it.tmp, { force: true })));
    this.pending.clear();
  }
}
