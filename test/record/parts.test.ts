// recordParts: one scan of a window, recorded as one commit per part (trail watch: one per
// actor). What each commit holds is what the scan read — never a write made after it, which
// would then carry the wrong name — and every commit's tree holds together, whatever the parts.
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { order, type PlannedCommit } from '../../src/attribute/attributor.js';
import { Repo } from '../../src/record/repo/repo.js';
import { recordParts, type Part } from '../../src/record/snapshot.js';
import { keepCacheInMemory } from '../../src/record/model/stat-cache.js';
import { Fixture, scratch } from '../watch/helpers.js';

const tmp = scratch('parts');
after(() => {
  keepCacheInMemory(false);
  tmp.cleanup();
});

const part = (name: string, paths: string[]): Part => ({
  paths,
  subject: `by ${name}`,
  actor: { name },
  action: 'watch',
});

async function content(f: Fixture, path: string): Promise<string | undefined> {
  const r = await f.git(['show', `refs/heads/observed:${path}`], [0, 128]);
  return r.code === 0 ? r.stdout.toString() : undefined;
}

async function setUp(
  t: { after(fn: () => void): void },
  sub: string,
  files: Record<string, string>,
): Promise<{ f: Fixture; repo: Repo }> {
  const f = new Fixture(join(tmp.dir, sub));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(f.work, p, '..'), { recursive: true });
    writeFileSync(join(f.work, p), c);
  }
  await f.init();
  const repo = await Repo.open(f.gitDir);
  t.after(() => repo.close());
  return { f, repo };
}

it('commits what the scan read, not a write made after it; the next window takes that one', async (t) => {
  const { f, repo } = await setUp(t, 'after-scan', { 'app.conf': 'v1\n' });
  writeFileSync(join(f.work, 'app.conf'), 'v2 by alice\n');
  const res = await recordParts(repo, ['app.conf'], async (changes) => {
    // Someone else writes while the window is being attributed, after the scan.
    writeFileSync(join(f.work, 'app.conf'), 'v3 by bob\n');
    return [
      part(
        'alice',
        changes.map((c) => c.path),
      ),
    ];
  });
  assert.equal(res.length, 1);
  assert.equal((await f.git(['show', `${res[0]!.commit}:app.conf`])).stdout.toString(), 'v2 by alice\n');
  assert.equal((await f.git(['log', '-1', '--format=%an', res[0]!.commit!])).stdout.toString().trim(), 'alice');
  const next = await recordParts(repo, ['app.conf'], async (changes) => [
    part(
      'bob',
      changes.map((c) => c.path),
    ),
  ]);
  assert.equal(next.length, 1, 'the later write is a change of its own');
  assert.equal((await f.git(['show', 'refs/heads/observed:app.conf'])).stdout.toString(), 'v3 by bob\n');
  assert.equal((await f.git(['log', '-1', '--format=%an', 'refs/heads/observed'])).stdout.toString().trim(), 'bob');
  assert.equal((await f.fsck()).code, 0);
});

it('one commit per part, each with only its paths; a path no part takes stays as recorded', async (t) => {
  const { f, repo } = await setUp(t, 'split', { 'a.conf': 'a1\n', 'b.conf': 'b1\n', 'c.conf': 'c1\n' });
  writeFileSync(join(f.work, 'a.conf'), 'a2\n');
  writeFileSync(join(f.work, 'b.conf'), 'b2\n');
  writeFileSync(join(f.work, 'c.conf'), 'c2\n');
  const res = await recordParts(repo, ['a.conf', 'b.conf', 'c.conf'], async () => [
    part('alice', ['a.conf']),
    part('bob', ['b.conf']),
  ]);
  assert.deepEqual(
    res.map((r) => r.changes.map((c) => c.path)),
    [['a.conf'], ['b.conf']],
  );
  assert.equal(await content(f, 'a.conf'), 'a2\n');
  assert.equal(await content(f, 'b.conf'), 'b2\n');
  assert.equal(await content(f, 'c.conf'), 'c1\n', 'left for a later window (an apt transaction still running)');
  const authors = (await f.git(['log', '-2', '--format=%an', 'refs/heads/observed'])).stdout
    .toString()
    .trim()
    .split('\n');
  assert.deepEqual(authors, ['bob', 'alice']);
  // Left out, not lost: the next window finds it.
  const later = await recordParts(repo, ['c.conf'], async (changes) => [
    part(
      'carol',
      changes.map((c) => c.path),
    ),
  ]);
  assert.deepEqual(
    later.map((r) => r.changes.map((c) => c.path)),
    [['c.conf']],
  );
  assert.equal((await f.fsck()).code, 0);
});

it('holds together when a part takes a file in a folder no part takes, or leaves files in a removed folder', async (t) => {
  const { f, repo } = await setUp(t, 'together', { 'old/x': 'x\n', 'old/y': 'y\n', keep: 'k\n' });
  mkdirSync(join(f.work, 'new/deep'), { recursive: true });
  writeFileSync(join(f.work, 'new/deep/f'), 'f\n');
  rmSync(join(f.work, 'old'), { recursive: true });
  // Only the file and the folder itself: the new folders and the removed files are nobody's.
  const res = await recordParts(repo, [''], async (changes) => {
    assert.deepEqual(changes.map((c) => c.path).sort(), ['new', 'new/deep', 'new/deep/f', 'old', 'old/x', 'old/y']);
    return [part('alice', ['new/deep/f', 'old'])];
  });
  assert.equal(res.length, 1);
  assert.equal(await content(f, 'new/deep/f'), 'f\n');
  const files = await f.trailFiles();
  assert.ok(![...files.keys()].some((p) => p.startsWith('old')), [...files.keys()].join(' '));
  assert.equal((await f.fsck()).code, 0);
  // And the trail equals the disk: trail status finds nothing left.
  const st = await f.trail(['status', '--json'], [0, 1, 2, 3, 4, 5]);
  assert.equal(JSON.parse(st.stdout.toString()).clean, true, st.stdout.toString());
});

it('orders the parts so that each commit holds together', () => {
  const c = (name: string, paths: string[]): PlannedCommit => ({
    paths,
    actor: { name },
    trailers: {},
    body: [],
    actors: [],
    events: [],
  });
  const names = (cs: PlannedCommit[]) => cs.map((x) => x.actor.name);
  // A folder alice made, a file bob wrote into it: alice first.
  assert.deepEqual(names(order([c('bob', ['d/f']), c('alice', ['d'])], new Set(['d']))), ['alice', 'bob']);
  // A folder alice removed, a file in it bob removed: bob first.
  assert.deepEqual(names(order([c('alice', ['d']), c('bob', ['d/f'])], new Set())), ['bob', 'alice']);
  // A folder made a file by alice; bob removed what was in it: bob first.
  assert.deepEqual(names(order([c('alice', ['d']), c('bob', ['d/f', 'other'])], new Set())), ['bob', 'alice']);
  // Unrelated: as given.
  assert.deepEqual(names(order([c('bob', ['b']), c('alice', ['a'])], new Set())), ['bob', 'alice']);
  // Each made a folder the other wrote into: one commit naming both.
  const both = order([c('alice', ['x', 'y/f']), c('bob', ['y', 'x/g'])], new Set(['x', 'y']));
  assert.equal(both.length, 1);
  assert.deepEqual(both[0]!.paths.sort(), ['x', 'x/g', 'y', 'y/f']);
  assert.equal(both[0]!.actor.name, 'alice, bob');
});
