// The daemon's writer: loose objects for a small window, one pack once many come.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdaptiveWriter, chooseWriter, PACK_THRESHOLD } from '../../../src/record/store/adaptive-writer.js';
import { PackWriter } from '../../../src/record/store/pack-writer.js';
import { git, tempDir } from '../../support/cli.js';

function looseCount(repo: string): number {
  return readdirSync(join(repo, 'objects'))
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .reduce((n, d) => n + readdirSync(join(repo, 'objects', d)).length, 0);
}

for (const n of [3, 40]) {
  test(`${n} objects: ${n < PACK_THRESHOLD ? 'all loose' : 'all in one pack'}, every one readable by git`, async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const repo = join(tmp.path, 'r.git');
    assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
    const w = new AdaptiveWriter(repo);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await w.write('blob', Buffer.from(`object ${i}\n`)));
    await w.finish();
    const check = git(repo, ['cat-file', '--batch-check'], ids.join('\n') + '\n').stdout.toString();
    assert.equal(check.split('\n').filter((l) => / blob \d+$/.test(l)).length, n, check);
    const packs = readdirSync(join(repo, 'objects', 'pack')).filter((f) => f.endsWith('.pack'));
    assert.equal(looseCount(repo), n < PACK_THRESHOLD ? n : 0);
    assert.equal(packs.length, n < PACK_THRESHOLD ? 0 : 1);
    assert.equal(git(repo, ['fsck', '--full', '--strict']).code, 0);
  });
}

test('objects held until finish: the same one twice is written once; big ones are written as they come; abort writes none', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const repo = join(tmp.path, 'r.git');
  assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
  const w = new AdaptiveWriter(repo);
  const a = await w.write('blob', Buffer.from('same\n'));
  assert.equal(await w.write('blob', Buffer.from('same\n')), a);
  assert.equal(looseCount(repo), 0, 'nothing written before finish');
  await w.finish();
  assert.equal(looseCount(repo), 1);

  const big = new AdaptiveWriter(repo);
  const ids = [
    await big.write('blob', Buffer.alloc(5 << 20, 1)),
    await big.write('blob', Buffer.alloc(5 << 20, 2)),
    await big.write('blob', Buffer.from('small\n')),
  ];
  await big.finish();
  assert.equal(looseCount(repo), 4);
  const check = git(repo, ['cat-file', '--batch-check'], ids.join('\n') + '\n').stdout.toString();
  assert.equal(check.split('\n').filter((l) => / blob \d+$/.test(l)).length, 3, check);

  const gone = new AdaptiveWriter(repo);
  await gone.write('blob', Buffer.from('never\n'));
  await gone.abort();
  assert.equal(looseCount(repo), 4);
  assert.equal(git(repo, ['fsck', '--full', '--strict']).code, 0);
});

test('chooseWriter: loose objects for a few (a pack should many come after all), one pack for a batch', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  assert.ok(chooseWriter(tmp.path, 1) instanceof AdaptiveWriter);
  assert.ok(chooseWriter(tmp.path, PACK_THRESHOLD - 1) instanceof AdaptiveWriter);
  assert.ok(chooseWriter(tmp.path, PACK_THRESHOLD) instanceof PackWriter);
  assert.ok(chooseWriter(tmp.path, 50_000) instanceof PackWriter);
});

// A full disk while the held objects are written: finish() fails, abort() clears up, and no
// temp file is left. Before, finish() threw at the first failed write while the others were
// still under way, and one that ended after the abort left its tmp_obj_ file behind (seen
// once in the disk-full test of test/record/faults.test.ts).
test('a disk that fills while finish() writes: the failure is thrown, abort leaves no temp file', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounts a small tmpfs: needs root');
  const tmp = tempDir();
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', mnt]).status, 0);
  t.after(() => {
    if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    tmp.cleanup();
  });
  const repo = join(mnt, 'r.git');
  assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
  const w = new AdaptiveWriter(repo);
  // Fewer than PACK_THRESHOLD objects, held until finish(): one bigger than the disk (random
  // bytes do not compress), whose failed write frees its room again, and small ones that
  // then fit, some only after finish() has already failed.
  await w.write('blob', randomBytes(400 * 1024));
  for (let i = 0; i < PACK_THRESHOLD - 2; i++) await w.write('blob', randomBytes(2 * 1024));
  await assert.rejects(w.finish(), /ENOSPC/);
  await w.abort();
  const temps = readdirSync(join(repo, 'objects'), { recursive: true, encoding: 'utf8' }).filter((f) =>
    /(^|\/)tmp_/.test(f),
  );
  assert.deepEqual(temps, []);
});
