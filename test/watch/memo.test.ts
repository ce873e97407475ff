// The daemon's commits depend on the in-memory stat cache for their latency (parsing and
// writing index.json costs hundreds of ms at 50k files): these pin down that it is used, and
// that it is never used for another commit than the trail's head.
import { strict as assert } from 'node:assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Repo } from '../../src/record/repo/repo.js';
import { record } from '../../src/record/snapshot.js';
import { flushCache, keepCacheInMemory, loadCache, loadStatIndex } from '../../src/record/model/stat-cache.js';
import { run } from '../../src/util/exec.js';
import { BIN, Daemon, Fixture, scratch, sleep, waitFor } from './helpers.js';

const tmp = scratch('memo');
after(() => {
  keepCacheInMemory(false);
  tmp.cleanup();
});

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

it('builds the same trees from the per-folder memo as from scratch, change after change', async () => {
  const { mkdirSync } = await import('node:fs');
  const { readState } = await import('../../src/record/tree/tree-reader.js');
  const { writeSnapshotTree } = await import('../../src/record/tree/tree-saver.js');
  const { HashOnlyWriter } = await import('../../src/record/store/object-writer.js');
  const f = new Fixture(join(tmp.dir, 'trees'));
  for (const d of ['a/b/c', 'a/d', 'e']) mkdirSync(join(f.work, d), { recursive: true });
  for (const p of ['a/b/c/1', 'a/b/2', 'a/d/3', 'e/4', '5']) writeFileSync(join(f.work, p), `${p}\n`);
  await f.init();
  // Files written in the last 2 s are read again ("racy"); older ones keep their entries, so
  // their folders come from the memo.
  await new Promise((r) => setTimeout(r, 2100));
  const repo = await Repo.open(f.gitDir);
  keepCacheInMemory(true);
  const steps: (() => void)[] = [
    () => writeFileSync(join(f.work, 'a/b/c/1'), 'deep change\n'),
    () => writeFileSync(join(f.work, 'a/d/new'), 'added\n'),
    () => rmSync(join(f.work, 'a/b'), { recursive: true }),
    () => mkdirSync(join(f.work, 'a/b/x'), { recursive: true }),
    () => writeFileSync(join(f.work, '5'), 'top\n'),
    () => rmSync(join(f.work, 'e/4')),
  ];
  for (const step of steps) {
    step();
    const res = await record(repo, { subject: 's', actor: { name: 't' }, action: 'watch', roots: [''] });
    assert.ok(res.commit);
    const fresh = await writeSnapshotTree(await readState(repo, res.commit), new HashOnlyWriter());
    const tree = (await f.git(['rev-parse', `${res.commit}^{tree}`])).stdout.toString().trim();
    assert.equal(tree, fresh.root);
  }
  assert.equal((await f.fsck()).code, 0);
  keepCacheInMemory(false);
  repo.close();
});

it('trail watch writes the stat cache out after its start commit, so that a scan finds it current', async () => {
  const f = new Fixture(tmp.dir, 'started');
  writeFileSync(join(f.work, 'a'), 'a\n');
  // Older than the racy window (2 s), so that the cache keeps its stat data from init on.
  await sleep(2100);
  await f.init();
  const d = new Daemon(f);
  try {
    await d.started();
    const head = await f.head();
    // The stat index belongs to the start commit once the daemon has been quiet for its idle
    // flush (5 s): loadStatIndex gives it only for the commit it names.
    const repo = await Repo.open(f.gitDir);
    try {
      await waitFor('the stat index of the start commit', async () => !!(await loadStatIndex(repo, head)), 30_000);
      // The start-up reconcile listed the whole tree, and the start commit kept its rules: the
      // index names them, so that a status may check it path by path.
      assert.match((await loadStatIndex(repo, head))!.rules ?? '', /^[0-9a-f]{40}$/);
    } finally {
      repo.close();
    }
    // Threads forced (a tree this small is otherwise scanned on one thread, without the index).
    const checked = await run(process.execPath, [BIN, 'status', '--name', f.name], {
      env: { ...f.env, TRAIL_NO_WATCHER: '1', TRAIL_READ_THREADS: 'always', TRAIL_TIMING: '1' },
    });
    assert.match(checked.stderr.toString(), /checked the stat index/);
    // A scan (no daemon asked) now trusts what it finds: nothing read again.
    const r = await run(process.execPath, [BIN, 'status', '--name', f.name, '--json'], {
      env: { ...f.env, TRAIL_NO_WATCHER: '1' },
    });
    const st = JSON.parse(r.stdout.toString()) as { clean: boolean; read: number; answeredBy: unknown };
    assert.equal(st.answeredBy, 'scan');
    assert.equal(st.read, 0, 'no file read again');
    assert.equal(st.clean, true);
  } finally {
    await d.stop();
  }
});
