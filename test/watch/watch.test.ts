import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { run } from '../../src/util/exec.js';
import { Daemon, Fixture, scratch, sleep } from './helpers.js';
import { Repo } from '../../src/record/repo/repo.js';
import { readStored, writeConfig } from '../../src/record/repo/settings.js';

const tmp = scratch('flow');
after(() => tmp.cleanup());
let n = 0;

// `trail init` and its settings are done once per file, over the files every test starts
// from (each test names the ones it relies on); each test then starts from a fresh copy of
// that trail. The copy goes to the very same absolute paths, which the registry in trail's
// home and the shadow repository name: sound because the tests of a file run one after
// another.
const START: Record<string, string> = {
  'a.conf': 'one\n',
  'gone.conf': 'g\n',
  a: '1\n',
  'etc/app.conf': 'v1\n',
  'etc/vim.conf': 'v1\n',
  'hot.txt': 'start\n',
  'keep.txt': 'x\n',
  'sub/a': 'a\n',
  'sub/deep/b': 'b\n',
  other: 'o\n',
  'old/x.conf': 'x\n',
  'old/inner/y.conf': 'y\n',
  'cfg/app.conf': 'good\n',
  'cfg/other': 'o\n',
  ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`d${i % 5}/f${i}`, '0\n'])),
};
const live = join(tmp.dir, 'live');
const template = join(tmp.dir, 'template');
let initialised: Promise<void> | undefined;

async function initOnce(): Promise<void> {
  const f = new Fixture(live);
  for (const [p, c] of Object.entries(START)) {
    mkdirSync(join(f.work, p, '..'), { recursive: true });
    writeFileSync(join(f.work, p), c);
  }
  await f.init();
  await run('cp', ['-a', live, template]);
}

async function fixture(files: Record<string, string> = {}, settings: Record<string, string> = {}): Promise<Fixture> {
  await (initialised ??= initOnce());
  rmSync(live, { recursive: true, force: true });
  await run('cp', ['-a', template, live]);
  const f = new Fixture(live);
  for (const [p, c] of Object.entries(files)) assert.equal(readFileSync(join(f.work, p), 'utf8'), c, p);
  for (const [k, v] of Object.entries(settings)) await f.trail(['--name', f.name, 'config', 'set', k, v]);
  return f;
}

// A test that fails leaves no daemon behind to watch the next test's copy.
const daemons: Daemon[] = [];
function watch(f: Fixture, args: string[] = []): Daemon {
  const d = new Daemon(f, args);
  daemons.push(d);
  return d;
}
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
});

/** Every path that any commit after `from` added, modified or deleted, with its letter. */
async function nameStatus(f: Fixture, from: string): Promise<string[]> {
  const out = (
    await f.git(['log', '--format=', '--name-status', '--no-renames', `${from}..refs/heads/observed`])
  ).stdout.toString();
  return out.split('\n').filter((l) => l && !/\t\.trail\//.test(l));
}

describe('trail watch', () => {
  it('records what changed while not watching, then start and stop events, and flushes on SIGTERM', async () => {
    const f = await fixture({ 'a.conf': 'one\n' }, { 'watch.quietMs': '5000', 'watch.maxDelayMs': '60000' });
    writeFileSync(join(f.work, 'a.conf'), 'changed while down\n');
    const d = watch(f);
    await d.started();
    // The quiet window is long: only the SIGTERM flush can commit this change.
    writeFileSync(join(f.work, 'b.conf'), 'pending at stop\n');
    await sleep(500);
    d.signal('SIGTERM');
    const exit = await d.exited;
    assert.equal(exit.code, 0, d.stderr);
    const commits = await f.commits();
    const actions = commits.map((c) => c.action);
    assert.deepEqual(actions, ['init', 'watch-gap', 'watch-start', 'watch', 'watch-stop']);
    const gap = commits[1]!;
    assert.match(gap.subject, /^changed while not watching: changed a\.conf$/);
    assert.match(gap.body, /Trail-Unwatched-Since: \d{4}-/);
    assert.match(gap.body, /Trail-Unwatched-Until: \d{4}-/);
    assert.equal(gap.author, 'unknown');
    assert.match(commits[3]!.subject, /added b\.conf/);
    // start and stop are empty commits: same tree as their parent.
    for (const i of [2, 4]) {
      const tree = (rev: string) => f.git(['rev-parse', `${rev}^{tree}`]).then((r) => r.stdout.toString().trim());
      assert.equal(await tree(commits[i]!.id), await tree(commits[i - 1]!.id));
    }
    await f.waitInSync('trail = disk after stop');
    assert.ok(d.lines.some((l) => l.event === 'stop'));
  });

  it('turns editor saves into one change of the file: temp + rename, vim 4913 probe + backup', async () => {
    const f = await fixture({ 'etc/app.conf': 'v1\n', 'etc/vim.conf': 'v1\n' });
    const d = watch(f);
    await d.started();
    const start = await f.head();
    // gedit/VS Code/most tools: write a temp file next to it, rename it over the original.
    const tmpName = join(f.work, 'etc', '.app.conf.XYZ123');
    writeFileSync(tmpName, 'v2 via rename\n');
    renameSync(tmpName, join(f.work, 'etc', 'app.conf'));
    // vim (backupcopy=no): probe writability with 4913, move the original to a backup, write
    // the new file, remove the backup.
    const dir = join(f.work, 'etc');
    writeFileSync(join(dir, '4913'), '');
    unlinkSync(join(dir, '4913'));
    renameSync(join(dir, 'vim.conf'), join(dir, 'vim.conf~'));
    writeFileSync(join(dir, 'vim.conf'), 'v2 via vim\n');
    unlinkSync(join(dir, 'vim.conf~'));
    await f.waitInSync('both saves recorded');
    const changes = await nameStatus(f, start);
    assert.deepEqual(changes.sort(), ['M\tetc/app.conf', 'M\tetc/vim.conf']);
    await d.stop();
  });

  it('coalesces a file written 1,000 times in a second and ends with its last state', async () => {
    const f = await fixture({ 'hot.txt': 'start\n' });
    const d = watch(f);
    await d.started();
    const start = await f.head();
    const file = join(f.work, 'hot.txt');
    const t0 = Date.now();
    for (let i = 1; i <= 1000; i++) {
      writeFileSync(file, `version ${i}\n`);
      // spread the writes over about a second
      if (i % 50 === 0) await sleep(Math.max(0, (i / 1000) * 1000 - (Date.now() - t0)));
    }
    await f.waitInSync('the last version recorded');
    const blob = (await f.git(['cat-file', 'blob', 'refs/heads/observed:hot.txt'])).stdout.toString();
    assert.equal(blob, 'version 1000\n');
    const commits = (await f.git(['rev-list', '--count', `${start}..refs/heads/observed`])).stdout.toString().trim();
    assert.ok(Number(commits) < 100, `1,000 writes should be coalesced, got ${commits} commits`);
    await d.stop();
  });

  it('records 10,000 files created in one folder', async () => {
    const f = await fixture({ 'keep.txt': 'x\n' });
    const d = watch(f);
    await d.started();
    mkdirSync(join(f.work, 'many'));
    for (let i = 0; i < 10_000; i++) writeFileSync(join(f.work, 'many', `f${i}.conf`), `file ${i}\n`);
    await f.waitInSync('10,000 files recorded', 180_000);
    const listed = (await f.git(['ls-tree', '--name-only', 'refs/heads/observed:many'])).stdout
      .toString()
      .split('\n')
      .filter(Boolean);
    assert.equal(listed.length, 10_000);
    await d.stop();
  });

  it('keeps watching a folder deleted and recreated, and the watched folder itself', async () => {
    const f = await fixture({ 'sub/a': 'a\n', 'sub/deep/b': 'b\n', other: 'o\n' });
    const d = watch(f);
    await d.started();
    rmSync(join(f.work, 'sub'), { recursive: true });
    mkdirSync(join(f.work, 'sub', 'deep'), { recursive: true });
    writeFileSync(join(f.work, 'sub', 'deep', 'c'), 'c\n');
    await f.waitInSync('recreated folder recorded');
    // Only a watch on the new folder can see this (the periodic reconcile is an hour away).
    writeFileSync(join(f.work, 'sub', 'deep', 'later'), 'later\n');
    await f.waitInSync('a file in the recreated folder');

    const kept = join(tmp.dir, `kept${n++}`);
    renameSync(f.work, kept);
    mkdirSync(f.work);
    writeFileSync(join(f.work, 'fresh'), 'fresh\n');
    await f.waitInSync('the recreated watched folder');
    writeFileSync(join(f.work, 'fresher'), 'fresher\n');
    await f.waitInSync('a change in the recreated watched folder');
    await d.stop();
  });

  it('follows a folder renamed within the tree', async () => {
    const f = await fixture({ 'old/x.conf': 'x\n', 'old/inner/y.conf': 'y\n' });
    const d = watch(f);
    await d.started();
    renameSync(join(f.work, 'old'), join(f.work, 'new'));
    await f.waitInSync('the rename recorded');
    // Watches follow inodes: these must be reported under the new name, not the old one.
    writeFileSync(join(f.work, 'new', 'inner', 'z.conf'), 'z\n');
    writeFileSync(join(f.work, 'new', 'inner', 'y.conf'), 'y2\n');
    await f.waitInSync('changes inside the renamed folder');
    const files = await f.trailFiles();
    assert.ok(![...files.keys()].some((p) => p.startsWith('old/')), 'nothing left under the old name');
    await d.stop();
  });

  it('loses nothing when killed with -9 in the middle of a burst, and the repo stays valid', async () => {
    const f = await fixture(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`d${i % 5}/f${i}`, `0\n`])));
    let d = watch(f);
    await d.started();
    let killed = false;
    for (let round = 1; round <= 60; round++) {
      for (let i = 0; i < 50; i++) writeFileSync(join(f.work, `d${i % 5}`, `f${i}`), `${round}\n`);
      if (round % 10 === 0) writeFileSync(join(f.work, `d${round % 5}`, `new${round}`), `new ${round}\n`);
      if (round === 20) {
        d.signal('SIGKILL');
        await d.exited;
        killed = true;
      }
      await sleep(30);
    }
    assert.ok(killed);
    // writes while nothing watches, then a new daemon, then more writes
    writeFileSync(join(f.work, 'while-down'), 'down\n');
    d = watch(f);
    await d.started();
    for (let i = 0; i < 50; i += 7) writeFileSync(join(f.work, `d${i % 5}`, `f${i}`), 'after restart\n');
    await f.waitInSync('every change recorded after the restart');
    const fsck = await f.fsck();
    assert.equal(fsck.code, 0, fsck.stderr);
    assert.doesNotMatch(fsck.stderr, /error|missing|broken/i);
    assert.ok(
      (await f.commits()).some((c) => c.action === 'watch-gap'),
      'changes made while down are their own commit',
    );
    await d.stop();
  });

  it('lets trail snapshot run while the daemon watches', async () => {
    // The daemon's quiet window outlasts the loop, so the snapshots get their commits in
    // first, however slow a loaded machine makes them (with a 3 s window a busy machine let
    // the daemon record everything first and left the snapshots nothing to do). The daemon
    // follows their commits, and records what is written after them when it stops.
    const f = await fixture({ a: '1\n' }, { 'watch.quietMs': '60000', 'watch.maxDelayMs': '120000' });
    const d = watch(f);
    await d.started();
    const snaps: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      writeFileSync(join(f.work, 'a'), `${i}\n`);
      writeFileSync(join(f.work, `s${i}`), `${i}\n`);
      snaps.push(f.trail(['--name', f.name, 'snapshot', '-m', `manual ${i}`]));
      await sleep(40);
    }
    const results = await Promise.allSettled(snaps);
    for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
    await f.waitInSync('trail = disk after the snapshots');
    writeFileSync(join(f.work, 'after'), 'written while the daemon waits\n');
    await d.stop();
    await f.waitInSync('the daemon recorded the last write when it stopped');
    const commits = await f.commits();
    const actions = new Set(commits.map((c) => c.action));
    assert.ok(actions.has('snapshot') && actions.has('watch-start'), [...actions].join(', '));
    const fsck = await f.fsck();
    assert.equal(fsck.code, 0, fsck.stderr);
  });

  it("does not record trail revert's own writes a second time", async () => {
    const f = await fixture({ 'cfg/app.conf': 'good\n', 'cfg/other': 'o\n' });
    const d = watch(f);
    await d.started();
    const good = await f.head();
    writeFileSync(join(f.work, 'cfg', 'app.conf'), 'bad\n');
    await f.waitInSync('the bad change recorded');
    const before = d.lines.length;
    await f.trail(['--name', f.name, 'revert', good, 'cfg/app.conf']);
    const reverted = await f.head();
    const revertCommit = (await f.commits()).at(-1)!;
    assert.equal(revertCommit.action, 'revert');
    // The daemon saw revert's writes; its reconcile must find nothing left to commit.
    await d.waitLog(
      'the daemon to look at the reverted file',
      (l) => l.event === 'no-change' || l.event === 'commit',
      before,
    );
    await sleep(1500); // a quiet window and a max delay for any late event batch
    assert.equal(
      await f.head(),
      reverted,
      `no commit after the revert; log: ${d.lines
        .slice(before)
        .map((l) => l.msg)
        .join(' | ')}`,
    );
    assert.equal((await f.git(['cat-file', 'blob', 'refs/heads/observed:cfg/app.conf'])).stdout.toString(), 'good\n');
    await d.stop();
  });

  it('reloads its settings on SIGHUP', async () => {
    const f = await fixture({ a: '1\n' });
    const d = watch(f);
    await d.started();
    await f.trail(['--name', f.name, 'config', 'set', 'watch.quietMs', '777']);
    const from = d.lines.length;
    d.signal('SIGHUP');
    const line = await d.waitLog('a reload', (l) => l.event === 'reload', from);
    assert.match(line.msg, /quiet 777 ms/);
    writeFileSync(join(f.work, 'b'), 'b\n');
    await f.waitInSync('still recording after the reload');
    await d.stop();
  });

  it('says which stored setting it does not use, at start and at reload, and runs on its default', async () => {
    const f = await fixture({ a: '1\n' });
    // As written by hand on the config ref (no rule of trail's ever took it).
    const r = await Repo.open(f.gitDir);
    try {
      const stored = await readStored(r);
      await writeConfig(r, { ...stored, 'watch.quietMs': -5 as never }, { name: 'older trail' }, 'config: old');
    } finally {
      r.close();
    }
    const d = watch(f);
    await d.started();
    const said = d.lines.filter((l) => l.event === 'config');
    assert.equal(said.length, 1, JSON.stringify(said));
    assert.match(
      said[0]!.msg,
      /setting watch\.quietMs = -5 is not valid \(expected a positive number\): its default is used/,
    );
    const from = d.lines.length;
    d.signal('SIGHUP');
    const reload = await d.waitLog('a reload', (l) => l.event === 'reload', from);
    assert.match(reload.msg, /quiet 300 ms/, 'the default is in force');
    assert.ok(
      d.lines.slice(from).some((l) => l.event === 'config'),
      'said again at the reload',
    );
    await d.stop();
  });

  it('records an untouched file as a secret once trail config names it one', async () => {
    const f = await fixture({ other: 'o\n' });
    // Settled: the start-up reconcile keeps the copied files' stat data, so only the rules
    // can make the daemon read `other` again (no event comes for it).
    await sleep(2100);
    const d = watch(f);
    await d.started(); // after its start-up reconcile (src/watch/job.ts)
    const from = d.lines.length;
    // No SIGHUP: the command tells the running daemon to reload (the `reload` op).
    const set = await f.trail(['--name', f.name, '--json', 'config', 'set', 'secrets', 'other']);
    assert.equal(JSON.parse(set.stdout.toString()).reloadedBy, d.pid);
    const line = await d.waitLog('a reconcile for the new rules', (l) => l.event === 'reconcile', from);
    assert.match(line.msg, /the recording rules changed/);
    const shown = (await f.git(['cat-file', 'blob', 'refs/heads/observed:other'])).stdout.toString();
    assert.match(shown, /^trail: the content of this file is a secret and stays on its host\n/);
    await d.stop();
  });

  it('follows the policy set while it runs: a secret rule reconciles, a record rule is watched', async () => {
    // keep.txt ignored by the settings, recorded by the policy set below (which wins).
    const f = await fixture({ 'etc/app.conf': 'v1\n', 'keep.txt': 'x\n' }, { ignore: '*.txt' });
    await sleep(2100); // settled, as above: only the rules can make it read etc/app.conf again
    const d = watch(f);
    await d.started();
    const from = d.lines.length;
    const policy = join(f.base, 'policy.yaml');
    writeFileSync(
      policy,
      'version: 1\nrules:\n  - paths: ["etc/app.conf"]\n    action: secret\n  - paths: ["keep.txt"]\n    action: record\n',
    );
    const set = await f.trail(['--name', f.name, '--json', 'policy', 'set', policy]);
    assert.equal(JSON.parse(set.stdout.toString()).reloadedBy, d.pid, set.stderr.toString());
    await d.waitLog('a reconcile for the new rules', (l) => l.event === 'reconcile', from);
    const shown = async (p: string) =>
      (await f.git(['cat-file', 'blob', `refs/heads/observed:${p}`], [0, 128])).stdout.toString();
    assert.match(await shown('etc/app.conf'), /^trail: the content of this file is a secret and stays on its host\n/);
    assert.equal(await shown('keep.txt'), 'x\n');
    // The ignored name the policy records: its change is an event now, committed at once.
    writeFileSync(join(f.work, 'keep.txt'), 'x2\n');
    await d.waitLog('the change committed', (l) => l.event === 'commit' && /keep\.txt/.test(l.msg), from);
    assert.equal(await shown('keep.txt'), 'x2\n');
    await d.stop();
  });

  it('records symlinks and removals, with the chokidar source too', async () => {
    const f = await fixture({ 'a.conf': 'one\n', 'gone.conf': 'g\n' });
    const d = watch(f, ['--source', 'chokidar']);
    await d.started();
    assert.ok(d.lines.some((l) => l.event === 'source' && l.source === 'chokidar'));
    symlinkSync('a.conf', join(f.work, 'link'));
    unlinkSync(join(f.work, 'gone.conf'));
    writeFileSync(join(f.work, 'a.conf'), 'a2\n');
    await f.waitInSync('chokidar events recorded');
    await d.stop();
  });
});
