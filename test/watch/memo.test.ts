// The daemon's commits depend on the in-memory stat cache for their latency (parsing and
// writing index.json costs hundreds of ms at 50k files): these pin down that it is used, and
// that it is never used for another commit than the trail's head.
import { strict as assert } from 'node:assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Repo } from '../../src/record/repo.js';
import { record } from '../../src/record/snapshot.js';
import { flushCache, keepCacheInMemory, loadCache } from '../../src/record/statcache.js';
import { Fixture, scratch } from './helpers.js';

const tmp = scratch('memo');
after(() => { keepCacheInMemory(false); tmp.cleanup(); });

it('keeps the last state in memory for the head, writes index.json only on flush', async () => {
  const f = new Fixture(tmp.dir);
  writeFileSync(join(f.work, 'a'), 'a\n');
  await f.init();
  const repo = await Repo.open(f.gitDir);
  keepCacheInMemory(true);
  writeFileSync(join(f.work, 'b'), 'b\n');
  const res = await record(repo, { subject: 's', actor: { name: 't' }, action: 'watch', roots: ['b'] });
  assert.ok(res.commit);
  const index = join(f.gitDir, 'trail', 'index.json');
  rmSync(index, { force: true });
  const cached = await loadCache(repo, res.commit);
  assert.ok(cached.warm, 'served from memory although index.json is gone');
  assert.deepEqual([...cached.state.keys()].sort(), ['', 'a', 'b']);
  // Another commit than the memo's (another writer moved the head): never the memo.
  const other = await loadCache(repo, res.parent);
  assert.equal(other.warm, false);
  assert.equal(other.state.has('b'), false);
  await flushCache(repo, res.parent); // not the memo's commit: nothing written
  await assert.rejects(import('node:fs/promises').then((m) => m.stat(index)));
  await flushCache(repo, res.commit);
  keepCacheInMemory(false);
  const fromDisk = await loadCache(repo, res.commit);
  assert.ok(fromDisk.warm && fromDisk.state.has('b'));
  repo.close();
});
