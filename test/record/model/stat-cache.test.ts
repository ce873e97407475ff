// The stat cache (statcache.ts) is parsed by offsets for speed: every kind of name, entries
// with and without stat data, secrets and skipped paths must come back exactly.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  flushCache,
  keepCacheInMemory,
  loadCache,
  readCacheFile,
  saveCache,
} from '../../../src/record/model/stat-cache.js';
import type { Repo } from '../../../src/record/repo/repo.js';
import type { State } from '../../../src/record/model/state.js';

const dir = mkdtempSync(join(tmpdir(), 'trail-statcache-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const repo = { gitDir: dir, stateDir: dir } as unknown as Repo;
const HEAD = 'a'.repeat(40);
const OLD = Date.now() - 3_600_000;

function sample(): State {
  const s: State = new Map();
  const names = [
    '',
    'plain.conf',
    'd',
    'd/with space',
    'd/100%',
    'd/tab\there',
    'd/new\nline',
    'caf\xc3\xa9',
    'raw\xfc\xfc',
    'ü-already-latin1',
    'd/,comma',
    'd/-',
  ];
  names.forEach((p, i) => {
    s.set(p, {
      meta: {
        kind: p === '' || p === 'd' ? 'dir' : 'file',
        mode: 0o640,
        uid: i,
        gid: 2 * i,
        user: 'u',
        size: i * 10,
        mtime: OLD + i + 0.25,
      },
      oid: p === 'd' || p === '' ? undefined : (i.toString(16) + 'b'.repeat(40)).slice(0, 40),
      stat:
        i % 3 === 2
          ? undefined
          : { dev: 64769, ino: 1_000_000 + i, size: i * 10, mtimeMs: OLD + i + 0.25, ctimeMs: OLD + i + 0.5 },
    });
  });
  s.get('d/-')!.meta.skipped = 'cannot read: permission denied';
  const sec = s.get('plain.conf')!;
  sec.meta.secret = 'hmac-sha256:' + 'c'.repeat(64);
  sec.secretOid = 'd'.repeat(40);
  return s;
}

describe('stat cache', () => {
  it('gives back every entry as it was saved', async () => {
    const state = sample();
    await saveCache(repo, HEAD, state, new Set(['e'.repeat(40), 'f'.repeat(40)]));
    const got = await loadCache(repo, HEAD);
    assert.equal(got.warm, true);
    assert.deepEqual([...got.trees].sort(), ['e'.repeat(40), 'f'.repeat(40)]);
    assert.deepEqual([...got.state.keys()], [...state.keys()]);
    for (const [p, e] of state) {
      const g = got.state.get(p)!;
      assert.deepEqual(g.meta, e.meta, p);
      assert.equal(g.oid, e.oid, p);
      assert.equal(g.secretOid, e.secretOid, p);
      assert.deepEqual(g.stat, e.stat, p);
    }
  });

  it('says the rules it was recorded under, and still reads a version 2 file (rules unknown)', async () => {
    const rules = '9'.repeat(40);
    await saveCache(repo, HEAD, sample(), new Set(['e'.repeat(40)]), undefined, undefined, rules);
    const got = await loadCache(repo, HEAD);
    assert.equal(got.rules, rules);
    const file = join(dir, 'index.json');
    const [, commit, , ...rest] = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, ['trail-index 2', commit, ...rest].join('\n'));
    const old = await loadCache(repo, HEAD);
    assert.equal(old.rules, undefined);
    assert.deepEqual([...old.trees], ['e'.repeat(40)]);
    assert.deepEqual(
      [...old.state].map(([p, e]) => [p, e.meta, e.oid, e.stat]),
      [...got.state].map(([p, e]) => [p, e.meta, e.oid, e.stat]),
    );
  });

  it('gives back an empty state, and nothing of a file that is torn or of another commit', async () => {
    await saveCache(repo, HEAD, new Map(), new Set());
    assert.equal((await loadCache(repo, HEAD)).state.size, 0);
    await saveCache(repo, HEAD, sample(), new Set());
    const file = join(dir, 'index.json');
    const text = readFileSync(file, 'utf8');
    // Torn or damaged: loadCache falls back to the commit, which this fake repository
    // cannot give — so an error (not a wrong state) is what it must come to.
    for (const bad of [
      text.slice(0, text.length - 10),
      text.replace('\t', ''),
      text.replace(/\n[^\n]*\t[^\n]*$/m, '\nx\ty'),
    ]) {
      writeFileSync(file, bad);
      await assert.rejects(loadCache(repo, HEAD));
    }
    writeFileSync(file, text);
    await assert.rejects(loadCache(repo, 'b'.repeat(40)));
  });

  it('reads the file a piece at a time: lines cut anywhere, and longer than a piece, come back whole', async () => {
    const state = sample();
    const trees = new Set(['e'.repeat(40), 'f'.repeat(40)]);
    await saveCache(repo, HEAD, state, trees);
    const file = join(dir, 'index.json');
    const whole = await readCacheFile(file, HEAD, undefined, 1 << 20);
    assert.ok(whole, 'read in one piece');
    const text = readFileSync(file, 'utf8');
    // A piece of 1 byte holds no whole line: the buffer grows to the longest one.
    for (const chunk of [1, 7, 50, 333]) {
      const got = await readCacheFile(file, HEAD, undefined, chunk);
      assert.ok(got, `pieces of ${chunk}`);
      assert.deepEqual([...got.trees], [...whole.trees]);
      assert.deepEqual(
        [...got.state].map(([p, e]) => [p, e.meta, e.oid, e.secretOid, e.stat]),
        [...whole.state].map(([p, e]) => [p, e.meta, e.oid, e.secretOid, e.stat]),
        `pieces of ${chunk}`,
      );
      writeFileSync(file, text.slice(0, -2));
      assert.equal(await readCacheFile(file, HEAD, undefined, chunk), undefined, `torn, pieces of ${chunk}`);
      writeFileSync(file, text);
    }
  });
});

describe('status refreshes the stat cache, as git status refreshes its index', () => {
  it('reads a just-changed file once, never hides a change, and leaves a change visible', async (t) => {
    const { trail, tempDir } = await import('../../support/cli.js');
    const { mkdirSync, utimesSync } = await import('node:fs');
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const home = join(tmp.path, 'home');
    const w = join(tmp.path, 'etc');
    mkdirSync(w);
    // Files changed within the cache's racy window (2 s) keep no stat data: read at the next
    // status. Their mtime is set a few seconds ahead, so that they are racy when init saves
    // the cache even when a loaded machine makes init slow (writing them just before init
    // left init 2 s, which a busy machine overran), then we wait until they are not.
    const mtime = new Date(Date.now() + 6000);
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(w, `f${i}`), `value ${i}\n`);
      utimesSync(join(w, `f${i}`), mtime, mtime);
    }
    const started = Date.now();
    const init = await trail(home, ['init', w, '--json']);
    assert.equal(init.code, 0, init.stderr);
    const initMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, Math.max(0, mtime.getTime() + 2100 - Date.now())));
    const first = await trail(home, ['status', '--json']);
    assert.equal(first.code, 0, first.stdout);
    assert.ok(first.json.read > 0, `the racy files were read (init took ${initMs} ms)`);
    const second = await trail(home, ['status', '--json']);
    assert.equal(second.code, 0);
    assert.equal(second.json.read, 0, 'and trusted on stat data afterwards');

    // A real change is never folded into the cache: it stays visible, status after status.
    writeFileSync(join(w, 'f3'), 'changed\n');
    for (let k = 0; k < 2; k++) {
      const s = await trail(home, ['status', '--json']);
      assert.equal(s.code, 3, s.stdout);
      assert.deepEqual(
        s.json.changes.map((c: { path: string }) => c.path),
        ['f3'],
      );
    }
    const snap = await trail(home, ['snapshot', '-m', 'f3', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    assert.equal((await trail(home, ['status', '--json'])).code, 0);
  });
});

describe('the cache kept in memory (trail watch)', () => {
  after(() => keepCacheInMemory(false));

  it('is written out when it changed, and not again when a scan found it as it is on disk', async () => {
    keepCacheInMemory(true);
    const file = join(dir, 'index.json');
    const trees = () => new Set(['e'.repeat(40)]);
    const state = sample();
    const rules = '9'.repeat(40);
    await saveCache(repo, HEAD, state, trees(), undefined, undefined, rules);
    await flushCache(repo, HEAD);
    const first = statSync(file).ino;
    // A reconcile that found nothing: a new map of the very same entries, same trees and rules.
    await saveCache(repo, HEAD, new Map(state), trees(), undefined, undefined, rules);
    await flushCache(repo, HEAD);
    assert.equal(statSync(file).ino, first, 'not written again');
    // One entry made anew (its stat data read again): written.
    const moved = new Map(state);
    moved.set('plain.conf', { ...state.get('plain.conf')! });
    await saveCache(repo, HEAD, moved, trees(), undefined, undefined, rules);
    await flushCache(repo, HEAD);
    const second = statSync(file).ino;
    assert.notEqual(second, first, 'an entry changed');
    // Other rules: written.
    await saveCache(repo, HEAD, new Map(moved), trees(), undefined, undefined, '8'.repeat(40));
    await flushCache(repo, HEAD);
    assert.notEqual(statSync(file).ino, second, 'the rules changed');
    keepCacheInMemory(false);
    assert.equal((await loadCache(repo, HEAD)).rules, '8'.repeat(40));
  });
});

describe('racy entries are judged against the start of the scan, not the save', () => {
  after(() => keepCacheInMemory(false));
  const file = (mtimeMs: number) => ({
    meta: { kind: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 2, mtime: mtimeMs },
    oid: 'b'.repeat(40),
    stat: { dev: 1, ino: 2, size: 2, mtimeMs, ctimeMs: mtimeMs },
  });

  // A long scan: it started 5 s ago and read `late` just after it started, and `late` was
  // written again in the same timestamp tick after the read. Its mtime is more than 2 s before
  // the save, but not before the scan's start: its stat data cannot be trusted.
  it('keeps no stat data of a file changed after the scan started, however long before the save', async () => {
    const started = Date.now() - 5000;
    const state: State = new Map([
      ['late', file(started + 10)],
      ['old', file(started - 60_000)],
    ]);
    await saveCache(repo, HEAD, state, new Set(), undefined, undefined, undefined, started);
    const got = await loadCache(repo, HEAD);
    assert.equal(got.state.get('late')!.stat, undefined, 'racy as of the scan start');
    assert.deepEqual(got.state.get('old')!.stat, state.get('old')!.stat);
    assert.equal(got.state.get('late')!.oid, 'b'.repeat(40));
  });

  it('in memory too: whole, after a scan under roots, and again whole for a scan that started earlier', async () => {
    keepCacheInMemory(true);
    const s0 = Date.now() - 10_000;
    const base: State = new Map([
      ['a', file(s0 + 10)],
      ['b', file(s0 - 60_000)],
    ]);
    await saveCache(repo, HEAD, base, new Set(), undefined, undefined, undefined, s0);
    let got = await loadCache(repo, HEAD);
    assert.equal(got.state.get('a')!.stat, undefined, 'whole state: racy as of its scan start');
    assert.ok(got.state.get('b')!.stat);
    // A scan under roots that looked at `c` only, started later: `c` is judged against it.
    const s1 = s0 + 5000;
    const next: State = new Map(got.state);
    next.set('c', file(s1 + 10));
    next.set('d', file(s1 - 2500)); // not looked at: taken as the memo's (never racy then)
    await saveCache(repo, HEAD, next, new Set(), undefined, { from: got.state, looked: ['c'] }, undefined, s1);
    got = await loadCache(repo, HEAD);
    assert.equal(got.state.get('c')!.stat, undefined, 'looked at: racy as of the scan start');
    // A scan that started before the memo's: the entries it did not look at may be racy as
    // of its start (`d` is), so the whole state is judged again.
    const s2 = s1 - 1000;
    await saveCache(
      repo,
      HEAD,
      new Map(got.state),
      new Set(),
      undefined,
      { from: got.state, looked: [] },
      undefined,
      s2,
    );
    got = await loadCache(repo, HEAD);
    assert.equal(got.state.get('d')!.stat, undefined, 'judged again against the earlier start');
    assert.ok(got.state.get('b')!.stat);
    // Written out as judged.
    await flushCache(repo, HEAD);
    keepCacheInMemory(false);
    const disk = await loadCache(repo, HEAD);
    assert.deepEqual(
      [...disk.state].filter(([, e]) => e.stat).map(([p]) => p),
      ['b'],
    );
  });
});
