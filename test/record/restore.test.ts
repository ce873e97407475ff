// Reverts that meet a hostile or awkward disk (run as root, real files, the real CLI or the
// real restore): hard links whose first link moved or left, files that cannot be removed or
// written, content the trail never kept, device times.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Repo } from '../../src/record/repo/repo.js';
import { apply, inScope, plan } from '../../src/record/restore.js';
import { drift } from '../../src/record/snapshot.js';
import { readState } from '../../src/record/tree/tree-reader.js';
import { git, tempDir, trail } from '../support/cli.js';

async function setup(t: { after(fn: () => void): void }, make: (dir: string) => void) {
  const tmp = tempDir();
  t.after(() => {
    spawnSync('chattr', ['-R', '-i', tmp.path]); // what `immutable` made so
    tmp.cleanup();
  });
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  make(dir);
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  return { tmp: tmp.path, home, dir, repo: init.json.repo as string, first: init.json.commit as string };
}

/** chattr +i (setup's cleanup takes it off again). */
function immutable(file: string): void {
  const r = spawnSync('chattr', ['+i', file]);
  assert.equal(r.status, 0, `chattr: ${r.stderr}`);
}

const journal = (repo: string) => join(repo, 'trail', 'revert-journal.json');

test('scoped revert of a hard link whose first link is now a symlink out of the dir: nothing outside is touched', async (t) => {
  const { tmp, home, dir, first } = await setup(t, (d) => {
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    writeFileSync(join(d, 'a', 'x'), 'linked content\n');
    linkSync(join(d, 'a', 'x'), join(d, 'b', 'y'));
  });
  const outside = join(tmp, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'x'), 'outside secret\n', { mode: 0o600 });
  rmSync(join(dir, 'b', 'y'));
  rmSync(join(dir, 'a'), { recursive: true });
  symlinkSync(outside, join(dir, 'a'));
  assert.equal((await trail(home, ['snapshot'])).code, 0);

  const r = await trail(home, ['revert', first, 'b/y']);
  const out = statSync(join(outside, 'x'));
  assert.equal(out.nlink, 1, 'the outside file was hard-linked into the watched dir');
  assert.equal(out.mode & 0o7777, 0o600, 'the outside file was chmodded');
  assert.equal(readFileSync(join(dir, 'b', 'y'), 'utf8'), 'linked content\n', r.stderr);
  assert.notEqual(statSync(join(dir, 'b', 'y')).ino, out.ino);
  assert.match(r.stderr, /b\/y: still differs \(written as a file of its own: not hard-linked to a\/x/);
});

test('scoped revert of a hard link whose first link was rewritten since: the recorded content, not the new one', async (t) => {
  const { home, dir, first } = await setup(t, (d) => {
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    writeFileSync(join(d, 'a', 'x'), 'REV content\n');
    linkSync(join(d, 'a', 'x'), join(d, 'b', 'y'));
  });
  writeFileSync(join(dir, 'a', 'x.new'), 'new x\n');
  renameSync(join(dir, 'a', 'x.new'), join(dir, 'a', 'x'));
  rmSync(join(dir, 'b', 'y'));
  assert.equal((await trail(home, ['snapshot'])).code, 0);
  const r = await trail(home, ['revert', first, 'b/y']);
  assert.equal(readFileSync(join(dir, 'b', 'y'), 'utf8'), 'REV content\n', r.stderr);
  assert.equal(readFileSync(join(dir, 'a', 'x'), 'utf8'), 'new x\n', 'a/x is out of scope');
  assert.equal(statSync(join(dir, 'a', 'x')).nlink, 1);

  // With the first link as recorded, the link is made again.
  rmSync(join(dir, 'b', 'y'));
  assert.equal((await trail(home, ['revert', first, 'a/x'])).code, 0);
  const again = await trail(home, ['revert', first, 'b/y']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(statSync(join(dir, 'b', 'y')).ino, statSync(join(dir, 'a', 'x')).ino);
});

test('a hard link from a manifest to a file not recorded as its group is written, never linked', async (t) => {
  const { dir, repo: gitDir } = await setup(t, (d) => {
    writeFileSync(join(d, 'shadow'), 'root:$6$REALHASH:19000::::::\n', { mode: 0o640 });
    writeFileSync(join(d, 'conf'), 'conf\n');
  });
  const repo = await Repo.open(gitDir);
  t.after(() => repo.close());
  const target = await readState(repo, 'refs/heads/observed');
  target.get('conf')!.meta.link = 'shadow'; // what a hostile manifest (a merged PR) could say
  rmSync(join(dir, 'conf'));
  const current = (await drift(repo)).scan.state;
  const p = plan(current, target, inScope(['conf']));
  const res = await apply(repo, dir, current, target, p);
  assert.equal(statSync(join(dir, 'shadow')).nlink, 1, 'shadow was hard-linked into conf');
  assert.equal(readFileSync(join(dir, 'conf'), 'utf8'), 'conf\n');
  assert.match(res.cannot.map((c) => c.reason).join('\n'), /not hard-linked to shadow/);
});

test('a whole revert makes a hard-link group again when its first link sorts after its partner', async (t) => {
  const { home, dir, first } = await setup(t, (d) => {
    mkdirSync(join(d, 'a'));
    writeFileSync(join(d, 'a', 'x'), 'linked\n');
    linkSync(join(d, 'a', 'x'), join(d, 'a-b'));
  });
  rmSync(join(dir, 'a'), { recursive: true });
  rmSync(join(dir, 'a-b'));
  assert.equal((await trail(home, ['snapshot'])).code, 0);
  const r = await trail(home, ['revert', first]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(join(dir, 'a-b')).ino, statSync(join(dir, 'a', 'x')).ino);
  assert.equal(readFileSync(join(dir, 'a-b'), 'utf8'), 'linked\n');
});

test('a path that cannot be removed (immutable): the rest is restored, EPERM is said, the trail goes on', async (t) => {
  const { home, dir, repo, first } = await setup(t, (d) => writeFileSync(join(d, 'a'), 'base\n'));
  writeFileSync(join(dir, 'b'), 'new\n');
  immutable(join(dir, 'b'));
  writeFileSync(join(dir, 'a'), 'changed\n');
  const r = await trail(home, ['revert', first]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /b: still present \(cannot remove: operation not permitted \(EPERM/);
  assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'base\n', 'the rest was restored');
  assert.ok(!existsSync(journal(repo)), 'journal left behind');
  assert.match(
    git(repo, ['log', '-1', '--format=%s', 'refs/heads/observed']).stdout.toString(),
    /^revert of everything/,
  );
  writeFileSync(join(dir, 'c'), 'more\n');
  const next = await trail(home, ['snapshot']);
  assert.equal(next.code, 0, next.stderr);
});

test('a scoped revert under a folder swapped for a symlink refuses that path and leaves no journal', async (t) => {
  const { tmp, home, dir, repo, first } = await setup(t, (d) => {
    mkdirSync(join(d, 'd'));
    writeFileSync(join(d, 'd', 'f'), 'inside f\n');
  });
  mkdirSync(join(tmp, 'outside'));
  writeFileSync(join(tmp, 'outside', 'f'), 'outside f\n');
  rmSync(join(dir, 'd'), { recursive: true });
  symlinkSync(join(tmp, 'outside'), join(dir, 'd'));
  assert.equal((await trail(home, ['snapshot'])).code, 0);
  const r = await trail(home, ['revert', first, 'd/f']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /d\/f: still differs \(cannot write: refusing to write d\/f: d is not a real folder/);
  assert.equal(readFileSync(join(tmp, 'outside', 'f'), 'utf8'), 'outside f\n');
  assert.ok(!existsSync(journal(repo)), 'journal left behind');
  assert.equal((await trail(home, ['snapshot'])).code, 0);
});

test('an interrupted revert that fails again is given up once, said with what is left; later writers go on', async (t) => {
  const { home, dir, repo, first } = await setup(t, (d) => mkdirSync(join(d, 'd')));
  writeFileSync(join(dir, 'd', 'new'), 'new\n');
  await trail(home, ['snapshot']);
  immutable(join(dir, 'd', 'new'));
  writeFileSync(
    journal(repo),
    JSON.stringify({ target: first, paths: [], by: 'alice', pid: 999999, started: new Date().toISOString() }),
  );
  const r = await trail(home, ['snapshot']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /finished a revert to .* as far as it could; still left: d\/new: still present \(cannot remove: operation not permitted \(EPERM/,
  );
  assert.match(r.stderr, /to finish it by hand, .* trail revert /);
  assert.ok(!existsSync(journal(repo)), 'journal left behind');
  writeFileSync(join(dir, 'other'), 'x\n');
  const next = await trail(home, ['snapshot']);
  assert.equal(next.code, 0, next.stderr);
  assert.doesNotMatch(next.stderr, /revert/);
});

test('a rename that fails leaves no temp copy behind, and the CLI says why the path still differs', async (t) => {
  const { home, dir, first } = await setup(t, (d) =>
    writeFileSync(join(d, 'shadow'), 'root:$6$REALHASH:19000::::::\n', { mode: 0o640 }),
  );
  writeFileSync(join(dir, 'shadow'), 'root:$6$NEWHASH:19000::::::\n');
  immutable(join(dir, 'shadow'));
  const r = await trail(home, ['revert', first]);
  assert.equal(r.code, 1);
  assert.deepEqual(readdirSync(dir), ['shadow'], 'a temp copy was left');
  assert.match(r.stderr, /shadow: still differs \(cannot write: operation not permitted \(EPERM/);
});

test('content the trail never kept is not removed: a digest-only file, a folder holding an ignored file', async (t) => {
  const { home, dir, first } = await setup(t, (d) => writeFileSync(join(d, 'a'), 'base\n'));
  assert.equal((await trail(home, ['config', 'set', 'snapshot.maxFileSize', '1K'])).code, 0);
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(5000, 7));
  mkdirSync(join(dir, 'newdir'));
  writeFileSync(join(dir, 'newdir', 'notes.swp'), 'precious notes\n'); // ignored by default
  writeFileSync(join(dir, 'newdir', 't'), 'tracked\n');
  assert.equal((await trail(home, ['snapshot'])).code, 0);

  const dry = await trail(home, ['revert', first, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(dry.json.plan.remove, ['newdir/t']);
  const said = dry.json.plan.cannot.map((c: { path: string; reason: string }) => `${c.path}: ${c.reason}`).join('\n');
  assert.match(said, /big.bin: left as it is: recorded by digest only/);
  assert.match(said, /newdir: kept: it holds notes.swp/);

  const r = await trail(home, ['revert', first]);
  assert.equal(r.code, 1);
  assert.equal(statSync(join(dir, 'big.bin')).size, 5000, 'the digest-only file was removed');
  assert.equal(readFileSync(join(dir, 'newdir', 'notes.swp'), 'utf8'), 'precious notes\n');
  assert.ok(!existsSync(join(dir, 'newdir', 't')));
});

test('a device node gets its recorded mtime back', async (t) => {
  const old = new Date('2001-01-01T00:00:00Z');
  const { home, dir, first } = await setup(t, (d) => {
    assert.equal(spawnSync('mknod', [join(d, 'chr'), 'c', '1', '3']).status, 0);
    utimesSync(join(d, 'chr'), old, old);
  });
  rmSync(join(dir, 'chr'));
  const r = await trail(home, ['revert', first]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(statSync(join(dir, 'chr')).isCharacterDevice());
  assert.equal(statSync(join(dir, 'chr')).mtimeMs, old.getTime());
});

test('a write that lands after the revert looked is not overwritten: left, said, and recorded next', async (t) => {
  const { dir, repo: gitDir } = await setup(t, (d) => {
    writeFileSync(join(d, 'a.conf'), 'recorded a\n');
    writeFileSync(join(d, 'b.conf'), 'recorded b\n');
  });
  const repo = await Repo.open(gitDir);
  t.after(() => repo.close());
  const target = await readState(repo, 'refs/heads/observed');
  writeFileSync(join(dir, 'a.conf'), 'changed a\n');
  writeFileSync(join(dir, 'b.conf'), 'changed b\n');
  writeFileSync(join(dir, 'new.conf'), 'new\n');
  // The revert's look at the disk…
  const current = (await drift(repo)).scan.state;
  const p = plan(current, target, inScope(undefined));
  // …then another process writes, before the revert gets to these paths.
  writeFileSync(join(dir, 'a.conf'), 'written meanwhile, longer\n');
  rmSync(join(dir, 'new.conf'));
  writeFileSync(join(dir, 'new.conf'), 'made again meanwhile\n');
  const res = await apply(repo, dir, current, target, p);
  assert.equal(readFileSync(join(dir, 'a.conf'), 'utf8'), 'written meanwhile, longer\n');
  assert.equal(readFileSync(join(dir, 'new.conf'), 'utf8'), 'made again meanwhile\n');
  assert.equal(readFileSync(join(dir, 'b.conf'), 'utf8'), 'recorded b\n', 'the rest is restored');
  const said = res.cannot.map((c) => `${c.path}: ${c.reason}`).join('\n');
  assert.match(said, /a\.conf: left as it is: changed since the revert began/);
  assert.match(said, /new\.conf: left as it is: changed since the revert began/);
});

test('a journal whose recoveries keep dying is given up, not started again by every writer', async (t) => {
  const { home, dir, repo, first } = await setup(t, (d) => writeFileSync(join(d, 'a.conf'), 'recorded\n'));
  writeFileSync(join(dir, 'a.conf'), 'changed\n');
  // Two recoveries were started and neither ended (each killed, or crashed by what it did).
  const j = { target: first, paths: [], by: 'alice', pid: 999999, started: new Date().toISOString(), recoveries: 2 };
  writeFileSync(journal(repo), JSON.stringify(j));
  const r = await trail(home, ['snapshot']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /gave up finishing a revert to .*: 2 attempts to finish it were started and none ended/);
  assert.match(r.stderr, /to finish it by hand, .* trail revert /);
  assert.ok(!existsSync(journal(repo)), 'journal left behind');
  assert.equal(readFileSync(join(dir, 'a.conf'), 'utf8'), 'changed\n', 'nothing reverted after giving up');
  // One that was started once (a power cut during it) is tried again, and counted.
  writeFileSync(journal(repo), JSON.stringify({ ...j, recoveries: 1 }));
  const again = await trail(home, ['snapshot']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /finished a revert to /);
  assert.equal(readFileSync(join(dir, 'a.conf'), 'utf8'), 'recorded\n');
});
