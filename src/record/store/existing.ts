import { promises as fsp, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The objects a repository held when a writer started: the name tables of its packs' v2
 * .idx files (read whole once: ~1.7 MB per 50k objects) and, the first time an id falls into
 * one, a loose fan-out folder's listing. Objects added later by others are simply not known:
 * writing one again is harmless.
 */
/** The .idx files last read, per objects folder, by file name (see load). */
const loaded = new Map<string, Map<string, Buffer>>();

export class ExistingObjects {
  private readonly loose = new Map<string, Set<string>>();
  private constructor(
    private readonly objectsDir: string,
    private readonly idx: Buffer[],
  ) {}

  static async load(objectsDir: string): Promise<ExistingObjects> {
    const idx: Buffer[] = [];
    let names: string[] = [];
    try {
      names = await fsp.readdir(join(objectsDir, 'pack'));
    } catch {
      /* no packs yet */
    }
    // A pack's name is the hash of its content: an .idx read before is the same bytes. A
    // writer per commit (trail watch) thus reads only the packs new since the last one.
    const before = loaded.get(objectsDir);
    const now = new Map<string, Buffer>();
    for (const n of names) {
      if (!/^pack-[0-9a-f]{40}\.idx$/.test(n)) continue;
      const known = before?.get(n);
      if (known) {
        idx.push(known);
        now.set(n, known);
        continue;
      }
      try {
        const buf = await fsp.readFile(join(objectsDir, 'pack', n));
        // Only v2 (what git has written since 1.5.2); an old v1 idx just means rewrites.
        if (buf.length >= 8 + 1024 && buf.readUInt32BE(0) === 0xff744f63 && buf.readUInt32BE(4) === 2) {
          idx.push(buf);
          now.set(n, buf);
        }
      } catch {
        /* repacked away meanwhile: its objects are in the new pack, or written again */
      }
    }
    loaded.set(objectsDir, now);
    return new ExistingObjects(objectsDir, idx);
  }

  has(oid: string): boolean {
    const key = Buffer.from(oid, 'hex');
    const first = key[0]!;
    for (const buf of this.idx) {
      const n = buf.readUInt32BE(8 + 255 * 4);
      let lo = first === 0 ? 0 : buf.readUInt32BE(8 + (first - 1) * 4);
      let hi = buf.readUInt32BE(8 + first * 4);
      const base = 8 + 1024;
      if (buf.length < base + n * 20) continue;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const c = buf.compare(key, 0, 20, base + mid * 20, base + mid * 20 + 20);
        if (c === 0) return true;
        if (c < 0) lo = mid + 1;
        else hi = mid;
      }
    }
    const dir = oid.slice(0, 2);
    let set = this.loose.get(dir);
    if (!set) {
      try {
        set = new Set(readdirSync(join(this.objectsDir, dir)));
      } catch {
        set = new Set();
      }
      this.loose.set(dir, set);
    }
    return set.has(oid.slice(2));
  }
}
