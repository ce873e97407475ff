// Where a packfile starts to beat loose objects: the figure behind PACK_THRESHOLD in
// src/record/store/pack-writer.ts. `node dist/bench/crossover.js` (or `npm run bench -- --crossover`).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LooseWriter } from '../src/record/store/loose-writer.js';
import type { ObjectWriter } from '../src/record/store/object-writer.js';
import { PACK_THRESHOLD } from '../src/record/store/adaptive-writer.js';
import { PackWriter } from '../src/record/store/pack-writer.js';
import { median, sh } from './measure.js';

/** A config-file-like blob of 200 B – 8 KB, as make-etc-tree.py writes them. */
function blob(i: number): Buffer {
  const size = [200, 600, 1500, 3000, 8000][i % 5]!;
  const line = `key_${i} = ${createHash('sha1').update(String(i)).digest('hex')}\n`;
  return Buffer.from(line.repeat(Math.ceil(size / line.length)).slice(0, size));
}

async function timeWriter(
  make: (gitDir: string) => ObjectWriter,
  n: number,
  scratch: string,
  salt: number,
): Promise<number> {
  const gitDir = join(scratch, `r${salt}-${n}-${Math.random().toString(36).slice(2)}.git`);
  sh('git', ['init', '-q', '--bare', gitDir]);
  const t = process.hrtime.bigint();
  const w = make(gitDir);
  for (let i = 0; i < n; i++) await w.write('blob', blob(i * 7919 + salt));
  await w.finish();
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  rmSync(gitDir, { recursive: true, force: true });
  return s;
}

export async function crossover(sizes = [1, 3, 10, 30, 100, 300, 1000, 3000], repeats = 5): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'trail-crossover-'));
  const lines = [
    `Loose objects vs one pack (ms, median of ${repeats}; each write fsynced as the writers do; PACK_THRESHOLD = ${PACK_THRESHOLD}):`,
    '',
    '| objects | LooseWriter | PackWriter | pack/loose |',
    '|---:|---:|---:|---:|',
  ];
  try {
    for (const n of sizes) {
      const loose: number[] = [];
      const pack: number[] = [];
      for (let k = 0; k < repeats; k++) {
        loose.push(await timeWriter((g) => new LooseWriter(g), n, scratch, k));
        pack.push(await timeWriter((g) => new PackWriter(g), n, scratch, k));
      }
      const l = median(loose) * 1000;
      const p = median(pack) * 1000;
      lines.push(`| ${n} | ${l.toFixed(1)} | ${p.toFixed(1)} | ${(p / l).toFixed(2)} |`);
      process.stderr.write(`  crossover ${n}: loose ${l.toFixed(1)} ms, pack ${p.toFixed(1)} ms\n`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  crossover().then((t) => process.stdout.write(t + '\n'));
}
