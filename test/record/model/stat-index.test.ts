// The stat index (statcache.ts): `trail status` on a big tree answers "clean" from it without
// loading the cache. It may do so only when every path and every stat is the same; any other
// tree, and any index that is damaged or belongs to another commit, gets the usual compare.
import { strict as assert } from 'node:assert';
import {
  copyFileSync,
  symlinkSync,
  existsSync,
  mkdirSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, trail, makeTree, scratchTrail, tempDir } from '../../support/cli.js';
import { HashOnlyWriter } from '../../../src/record/store/object-writer.js';
import { makeRules } from '../../../src/record/list/rules.js';
import { scan } from '../../../src/record/scanner.js';
import { loadStatIndex, saveCache } from '../../../src/record/model/stat-cache.js';
import { checkIndex, nativeCheck } from '../../../src/record/list/index-check.js';
import { rulesDigest } from '../../../src/record/list/rules.js';
import { ReadPool } from '../../../src/record/read/read-pool.js';
import type { Repo } from '../../../src/record/repo/repo.js';
import type { State } from '../../../src/record/model/state.js';
import { sleep } from '../../support/wait.js';

// A small tree takes the big tree's path when the threads are forced; TRAIL_TIMING tells
// which way status answered.
const env = { TRAIL_READ_THREADS: 'always', TRAIL_TIMING: '1' };
const FROM_INDEX = /matched the stat index/;
// Checked path by path, no folder listed: the index was written under the same rules.
const CHECKED = /checked the stat index/;

// A file changed within 2 s of the index being written keeps no stat data there (it could
// change again within the same timestamp tick): the tests let such changes age first.
const settle = () => sleep(2100);

async function setUp(t: { after(fn: () => void): void }) {
  const { home, dir } = scratchTrail(t);
  makeTree(dir, 300);
  mkdirSync(join(dir, 'own'));
  for (const f of ['a.conf', 'b.conf', 'c.conf']) writeFileSync(join(dir, 'own', f), `${f}\n`);
  await settle();
  const init = await trail(home, ['init', dir, '--json'], { env });
  assert.equal(init.code, 0, init.stderr);
  const index = join(init.json.repo as string, 'trail', 'index.stat');
  const status = async () => {
    const r = await trail(home, ['status', '--json'], { env });
    assert.ok(r.code === 0 || r.code === 3, r.stderr);
    return {
      paths: (r.json.changes as { path: string }[]).map((c) => c.path).sort(),
      fromIndex: FROM_INDEX.test(r.stderr),
      files: r.json.files as number,
      checked: CHECKED.test(r.stderr),
    };
  };
  return { home, dir, index, status };
}

describe('trail status and the stat index', () => {
  it('answers from the index only when nothing differs, and finds every kind of change', async (t) => {
    const { dir, index, status } = await setUp(t);
    assert.ok(existsSync(index), 'init writes the stat index');
    const first = await status();
    assert.deepEqual({ ...first, files: 0 }, { paths: [], fromIndex: true, files: 0, checked: true });
    assert.ok(first.files > 250, `counts the files (${first.files})`);

    // Changed, added, removed, chmod'ed: each is found, none answered from the index.
    writeFileSync(join(dir, 'own/a.conf'), 'changed\n');
    writeFileSync(join(dir, 'own/new.conf'), 'new\n');
    rmSync(join(dir, 'own/b.conf'));
    let now = await status();
    assert.deepEqual(now, {
      paths: ['own/a.conf', 'own/b.conf', 'own/new.conf'],
      fromIndex: false,
      files: first.files,
      checked: false,
    });
    writeFileSync(join(dir, 'own/a.conf'), 'a.conf\n');
    writeFileSync(join(dir, 'own/b.conf'), 'b.conf\n');
    rmSync(join(dir, 'own/new.conf'));
    await settle();
    // Same content again, new stat data: clean, read once, and the index refreshed.
    now = await status();
    assert.deepEqual(now.paths, []);
    assert.equal(now.fromIndex, false);
    assert.equal((await status()).fromIndex, true, 'the refreshed index answers the next status');

    // A file made and removed again: only the folder's stat data moved, no file was read.
    // The index is refreshed all the same, or every later status would scan until a commit.
    writeFileSync(join(dir, 'own/tmp.swp'), 'x\n');
    rmSync(join(dir, 'own/tmp.swp'));
    await settle();
    now = await status();
    assert.deepEqual(now.paths, []);
    assert.equal(now.fromIndex, false, 'the folder moved: not the index');
    assert.equal((await status()).fromIndex, true, 'the index refreshed for a folder answers the next status');

    // Same size and mtime, other content: a stat path cannot see it (status --full does).
    const st = statSync(join(dir, 'own/c.conf'));
    writeFileSync(join(dir, 'own/c.conf'), 'C.conf\n');
    utimesSync(join(dir, 'own/c.conf'), st.atime, st.mtime);
    now = await status();
    assert.equal(now.fromIndex, false, 'ctime moved: not the index');
  });

  it('answers trail snapshot on an unchanged tree too, writing nothing; a change is recorded', async (t) => {
    const { home, dir, index } = await setUp(t);
    const snapshot = async () => {
      const r = await trail(home, ['snapshot', '--json'], { env });
      assert.equal(r.code, 0, r.stderr);
      return {
        commit: r.json.commit as string | null,
        paths: (r.json.changes as { path: string }[]).map((c) => c.path),
        fromIndex: FROM_INDEX.test(r.stderr),
      };
    };
    const cache = join(dirname(index), 'index.json');
    const before = [statSync(cache).mtimeMs, statSync(index).mtimeMs];
    assert.deepEqual(await snapshot(), { commit: null, paths: [], fromIndex: true });
    assert.deepEqual([statSync(cache).mtimeMs, statSync(index).mtimeMs], before, 'nothing written');

    writeFileSync(join(dir, 'own/a.conf'), 'changed\n');
    const changed = await snapshot();
    assert.match(changed.commit ?? '', /^[0-9a-f]{40}$/);
    assert.deepEqual([changed.paths, changed.fromIndex], [['own/a.conf'], false]);
    await settle();
    // The commit's index answers the next one (once its entries are no longer racy).
    const after = await snapshot();
    assert.deepEqual(after.paths, []);
    assert.equal(after.commit, null);
  });

  it('is not checked path by path once the rules changed: a file they no longer ignore is found', async (t) => {
    const { home, dir, status } = await setUp(t);
    const set = async (ignore: string) => {
      const r = await trail(home, ['config', 'set', 'ignore', ignore], { env });
      assert.equal(r.code, 0, r.stderr);
    };
    await set('*.bak');
    writeFileSync(join(dir, 'own/old.bak'), 'ignored\n');
    await settle();
    assert.deepEqual((await status()).paths, [], 'ignored: clean (the index is refreshed under these rules)');
    const checked = await status();
    assert.deepEqual([checked.paths, checked.checked], [[], true]);

    // No path, no folder moved on disk: only the rules say that own/old.bak now counts.
    await set('*.tmp');
    const now = await status();
    assert.deepEqual(now.paths, ['own/old.bak']);
    assert.equal(now.fromIndex, false);
  });

  it('ignores an index that is damaged or belongs to another commit', async (t) => {
    const { home, dir, index, status } = await setUp(t);
    truncateSync(index, statSync(index).size - 3);
    let now = await status();
    assert.deepEqual(now.paths, []);
    assert.equal(now.fromIndex, false, 'a torn index is not used');
    assert.equal((await status()).fromIndex, true, 'and is written anew');

    // An index of the previous commit, with the tree as it was then: not this commit's.
    copyFileSync(index, `${index}.old`);
    writeFileSync(join(dir, 'own/a.conf'), 'changed\n');
    const snap = await trail(home, ['snapshot', '-m', 'a changed', '--json'], { env });
    assert.equal(snap.code, 0, snap.stderr);
    writeFileSync(join(dir, 'own/a.conf'), 'a.conf\n');
    await settle();
    copyFileSync(`${index}.old`, index);
    now = await status();
    assert.equal(now.fromIndex, false);
    assert.deepEqual(now.paths, ['own/a.conf']);
  });
});

/** A tree of 200 files in a scratch folder (removed after the test). */
function scratchTree(t: { after(fn: () => void): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const dir = join(tmp.path, 'tree');
  mkdirSync(dir);
  makeTree(dir, 200);
  return { tmp, dir };
}

/** The whole tree scanned from nothing, hashing only. */
function scanWhole(dir: string, rules: ReturnType<typeof makeRules>) {
  return scan({
    root: dir,
    rules,
    previous: new Map(),
    writer: new HashOnlyWriter(),
    secretKey: Buffer.alloc(32),
    maxFileSize: MAX,
  });
}

const MAX = 1 << 20;

/** A settled tree scanned whole, and `save`, which writes a state's stat index (the scratch
 * folder as the repository) and loads it back. */
async function indexedTree(tmp: { path: string }, dir: string) {
  await settle();
  const rules = makeRules([], []);
  const scanned = await scanWhole(dir, rules);
  const repo = { gitDir: tmp.path, stateDir: tmp.path } as unknown as Repo;
  const head = 'c'.repeat(40);
  const save = async (state: State) => {
    await saveCache(repo, head, state, new Set(), undefined, undefined, rulesDigest(rules, MAX));
    const index = await loadStatIndex(repo, head);
    assert.ok(index, 'the index loads');
    return index;
  };
  return { rules, scanned, save };
}

describe('the stat index checked against the disk', () => {
  it('matches in any order of the state, and not with one stat or one path different', async (t) => {
    const { tmp, dir } = scratchTree(t);
    const { scanned, save } = await indexedTree(tmp, dir);
    const check = async (state: State) => checkIndex(dir, await save(state));
    const inOrder = await check(scanned.state);
    assert.deepEqual(inOrder, { files: scanned.files, dirs: scanned.dirs, bytes: scanned.bytes });
    // A watcher's state is in the order its paths were last recorded, not the listing's.
    const reversed: State = new Map([...scanned.state].reverse());
    assert.deepEqual(await check(reversed), inOrder);

    const [path, entry] = [...scanned.state].find(([, e]) => e.meta.kind === 'file')!;
    const moved: State = new Map(scanned.state);
    moved.set(path, { ...entry, stat: { ...entry.stat!, mtimeMs: entry.stat!.mtimeMs + 1 } });
    assert.equal(await check(moved), undefined, 'one mtime differs');
    // A path on disk that the index does not have shows in its folder's stat data (a file
    // added moves the folder's mtime): the next test makes one.
    const more: State = new Map(scanned.state);
    more.set('not/on/disk', entry);
    assert.equal(await check(more), undefined, 'a path that is not on disk');
  });

  it('is checked path by path, here and on threads, and fails at any difference on disk', async (t) => {
    const { tmp, dir } = scratchTree(t);
    mkdirSync(join(dir, 'own'));
    writeFileSync(join(dir, 'own/a.conf'), 'a\n');
    const { rules, scanned, save } = await indexedTree(tmp, dir);
    const index = await save(scanned.state);
    assert.equal(index.rules, rulesDigest(rules, MAX), 'the index names its rules');
    const pool = new ReadPool('hash', 0, 2);
    t.after(() => pool.close());
    // This thread takes the first pieces, so a tree this small may never reach a thread: the
    // thread's own check is asked for the whole index as well.
    const onThread = (i: typeof index) => pool.check({ root: dir, names: i.paths.join('\0'), stats: i.stats });
    const both = async () => [await checkIndex(dir, index), await onThread(index)];
    const seen = { files: scanned.files, dirs: scanned.dirs, bytes: scanned.bytes };
    assert.deepEqual(await both(), [seen, seen]);

    // A file more in a folder: no indexed file moved, the folder did.
    writeFileSync(join(dir, 'own/new.conf'), 'new\n');
    assert.deepEqual(await both(), [undefined, undefined], 'a file added');
    rmSync(join(dir, 'own/new.conf'));
    const again = await save((await rescan()).state);
    assert.deepEqual([await checkIndex(dir, again, pool), await onThread(again)], [seen, seen]);
    rmSync(join(dir, 'own/a.conf'));
    assert.deepEqual(
      [await checkIndex(dir, again, pool), await onThread(again)],
      [undefined, undefined],
      'a file removed',
    );

    async function rescan() {
      await settle();
      return scanWhole(dir, rules);
    }
  });

  it('is checked in C where it was built, and trail doctor says so', async (t) => {
    const { home } = scratchTrail(t);
    const r = await trail(home, ['doctor', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json.indexCheck, { native: true, file: join(ROOT, 'dist', 'index-check.node') });
  });

  it('is answered alike in C and in JavaScript, number for number, on one thread or several', async (t) => {
    assert.ok(nativeCheck(), 'dist/index-check.node is built by npm test (packaging/native.mjs)');
    const { tmp, dir } = scratchTree(t);
    // Numbers and names at their edges: a name that is not UTF-8, a time before 1970, one
    // with nanoseconds, a sparse file above the size read whole, a symlink, a fifo, an empty folder.
    const latin1 = Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9])]);
    writeFileSync(latin1, 'not UTF-8\n');
    writeFileSync(join(dir, 'old.conf'), 'old\n');
    utimesSync(join(dir, 'old.conf'), -1.5, -86400.25);
    writeFileSync(join(dir, 'sparse'), '');
    truncateSync(join(dir, 'sparse'), 5 * MAX + 1);
    symlinkSync('old.conf', join(dir, 'link'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
    mkdirSync(join(dir, 'empty'));
    const { scanned, save } = await indexedTree(tmp, dir);
    const index = await save(scanned.state);
    assert.ok(index.paths.includes('caf\xe9') && index.paths.includes('sparse'), 'the edge cases are indexed');
    const pool = new ReadPool('hash', 0, 4); // only its number of threads is used by the check in C
    t.after(() => pool.close());
    const three = async (i: typeof index) => [
      await checkIndex(dir, i, undefined, { native: false }),
      await checkIndex(dir, i),
      await checkIndex(dir, i, pool),
    ];
    const seen = { files: scanned.files, dirs: scanned.dirs, bytes: scanned.bytes };
    assert.ok(seen.bytes > 5 * MAX, 'the sparse file counts');
    assert.deepEqual(await three(index), [seen, seen, seen]);

    // Any one number of any path one off (every 7th path, each of its five numbers): all differ.
    for (let p = 0; p < index.paths.length; p += 7)
      for (let k = 0; k < 5; k++) {
        const stats = index.stats.slice();
        stats[p * 5 + k]! += 1;
        assert.deepEqual(
          await three({ ...index, stats }),
          [undefined, undefined, undefined],
          `${index.paths[p]}: number ${k}`,
        );
      }
    // One name one byte longer, as the file would hold it: no such path.
    const at = index.paths.indexOf('caf\xe9');
    const paths = index.paths.map((x, i) => (i === at ? `${x}x` : x));
    const names = Buffer.from(paths.join('\0'), 'latin1');
    assert.deepEqual(await three({ ...index, paths, names }), [undefined, undefined, undefined], 'a renamed path');
    // An absolute path, which would take the check out of the tree: differs, never looked up there.
    const outside = index.paths.map((x, i) => (i === at ? dir + '/' + x : x));
    assert.deepEqual(
      await three({ ...index, paths: outside, names: Buffer.from(outside.join('\0'), 'latin1') }),
      [undefined, undefined, undefined],
      'an absolute path',
    );
    // Names that do not split into as many paths as numbers: not the index's tree.
    assert.equal(
      await checkIndex(dir, { ...index, names: Buffer.concat([index.names, Buffer.from('\0x')]) }),
      undefined,
    );

    // The disk changed under the same index: one byte of one file.
    writeFileSync(latin1, 'not UTF-9\n');
    assert.deepEqual(await three(index), [undefined, undefined, undefined], 'a file written');
  });
});
