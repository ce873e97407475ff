// git's lock files in the shadow repository (issue 18, item 2): one left by a git that no
// longer runs is removed before trail writes, with one line naming it; one a live git may
// hold is waited for, and only for so long. Real trail commands, real git processes holding
// real locks, checked with git itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sweepGitLocks } from '../../src/util/git-lock-sweeper.js';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import { assertFsck, BIN, git, revParse, sandbox, trail, trailOk, type Sandbox } from '../support/hostile-cli.js';

const OBSERVED = 'refs/heads/observed';

async function initialized(t: { after(fn: () => void): void }): Promise<Sandbox> {
  const sb = sandbox('trail-git-locks-');
  t.after(() => sb.cleanup());
  writeFileSync(join(sb.dir, 'hosts'), '127.0.0.1 localhost\n');
  await trailOk(sb, ['init', sb.dir, '--name', 'w']);
  return sb;
}

/** A git of another tool in the middle of a ref transaction: it holds `ref`'s lock (with the
 * lock file already closed, as git does) until told to commit or abort. */
async function foreignTransaction(gitDir: string, ref: string): Promise<ChildProcessWithoutNullStreams> {
  const tip = revParse(gitDir, ref)!;
  const child = spawn('git', ['--git-dir', gitDir, 'update-ref', '--stdin'], {
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('prepare: ok')) resolve();
    });
    child.on('close', (code) => reject(new Error(`git update-ref ended (${code}) before holding the lock`)));
    child.stdin.write(`start\nupdate ${ref} ${tip} ${tip}\nprepare\n`);
  });
  assert.ok(existsSync(join(gitDir, ref + '.lock')), 'the foreign git holds the lock');
  return child;
}

function finish(child: ChildProcessWithoutNullStreams, word: 'commit' | 'abort'): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (d: string) => (out += d));
    child.on('close', () => resolve(out));
    child.stdin.end(`${word}\n`);
  });
}

test('locks left by a killed git are removed, each named once, and the write goes through', async (t) => {
  const sb = await initialized(t);
  const planted = [
    'refs/heads/observed.lock',
    'logs/refs/heads/observed.lock',
    'packed-refs.lock',
    'HEAD.lock',
    'config.lock',
    'index.lock',
    'shallow.lock',
    'objects/info/commit-graph.lock',
    'refs/notes/trail-ots.lock',
  ];
  for (const rel of planted) {
    mkdirSync(join(sb.repo, rel, '..'), { recursive: true });
    writeFileSync(join(sb.repo, rel), '');
  }
  // fast-import's keep on a pack is transient; one a person made is theirs and stays.
  const packDir = join(sb.repo, 'objects', 'pack');
  mkdirSync(packDir, { recursive: true });
  writeFileSync(join(packDir, 'pack-1111111111111111111111111111111111111111.keep'), 'fast-import\n');
  writeFileSync(join(packDir, 'pack-2222222222222222222222222222222222222222.keep'), 'kept on purpose\n');

  writeFileSync(join(sb.dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.3 db\n');
  const before = revParse(sb.repo, OBSERVED);
  const r = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
  const lines = r.stderr
    .toString()
    .split('\n')
    .filter((l) => /stale git lock/.test(l));
  for (const rel of [...planted, 'objects/pack/pack-1111111111111111111111111111111111111111.keep']) {
    assert.equal(lines.filter((l) => l.includes(join(sb.repo, rel) + ' ')).length, 1, `${rel} named once:\n${r.text}`);
    assert.ok(!existsSync(join(sb.repo, rel)), `${rel} removed`);
  }
  assert.equal(lines.length, planted.length + 1, r.text);
  assert.ok(existsSync(join(packDir, 'pack-2222222222222222222222222222222222222222.keep')), "a person's .keep stays");
  assert.notEqual(revParse(sb.repo, OBSERVED), before, 'the snapshot was recorded');
  assert.equal(git(sb.repo, ['show', `${OBSERVED}:hosts`]).stdout.toString(), '127.0.0.1 localhost\n10.0.0.3 db\n');
  assertFsck(sb.repo);
  // The next command finds nothing to remove.
  writeFileSync(join(sb.dir, 'hosts'), '127.0.0.1 localhost\n');
  const again = await trailOk(sb, ['snapshot', '--name', 'w']);
  assert.doesNotMatch(again.stderr.toString(), /git lock/);
});

test('a lock held by a live git of another tool is waited for, then the write goes through', async (t) => {
  const sb = await initialized(t);
  const holder = await foreignTransaction(sb.repo, OBSERVED);
  t.after(() => holder.kill('SIGKILL'));
  writeFileSync(join(sb.dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.9 web\n');
  const child = spawn(process.execPath, [BIN, 'snapshot', '--name', 'w', '--json'], { env: sb.env });
  let err = '';
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // trail says what it waits for, naming the holder…
  await new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/waiting for process \d+/.test(err)) resolve();
    });
    void exited.then((code) => reject(new Error(`trail ended (${code}) without waiting:\n${err}${out}`)));
  });
  assert.match(err, new RegExp(`waiting for process ${holder.pid} \\(git --git-dir .* update-ref --stdin\\)`));
  assert.equal(child.exitCode, null, 'trail has not written past the lock');
  assert.ok(existsSync(join(sb.repo, OBSERVED + '.lock')), 'the live lock was left alone');
  // …and goes on once the holder is done.
  assert.match(await finish(holder, 'abort'), /abort: ok/);
  assert.equal(await exited, 0, err);
  assert.doesNotMatch(err, /stale git lock/, 'a lock released by its holder is not stale');
  assert.equal(revParse(sb.repo, OBSERVED), JSON.parse(out).commit);
  assertFsck(sb.repo);
});

test('waiting for a live lock is bounded: busy (exit 4), naming the lock and its holder, which keeps it', async (t) => {
  const sb = await initialized(t);
  await trailOk(sb, ['config', 'set', 'lock.timeoutMs', '500', '--name', 'w']);
  const tip = revParse(sb.repo, OBSERVED);
  const holder = await foreignTransaction(sb.repo, OBSERVED);
  t.after(() => holder.kill('SIGKILL'));
  writeFileSync(join(sb.dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.9 web\n');
  const r = await trail(sb, ['snapshot', '--name', 'w']);
  assert.equal(r.code, 4, r.text);
  // (Moving the ref HEAD points to, git locks HEAD as well.)
  assert.match(
    r.stderr.toString(),
    new RegExp(`git lock ${sb.repo}/(HEAD|${OBSERVED})\\.lock is held: process ${holder.pid} \\(git `),
  );
  assert.ok(!existsSync(join(sb.repo, 'trail', 'lock')), "trail's own lock is released");
  // The holder's transaction is intact: it can still commit.
  assert.match(await finish(holder, 'commit'), /commit: ok/);
  assert.equal(revParse(sb.repo, OBSERVED), tip);
  const next = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
  assert.ok(next.json.commit);
  assertFsck(sb.repo);
});

test("the notes ref's lock left by a killed stamp is removed before the next stamp writes", async (t) => {
  const sb = await initialized(t);
  const cal = await new OtsCalendarStub().start();
  t.after(() => cal.stop());
  await trailOk(sb, ['config', 'set', 'anchor.calendars', cal.url, '--name', 'w']);
  await trailOk(sb, ['config', 'set', 'anchor.minCalendars', '1', '--name', 'w']);
  mkdirSync(join(sb.repo, 'refs', 'notes'), { recursive: true });
  writeFileSync(join(sb.repo, 'refs', 'notes', 'trail-ots.lock'), '');
  const r = await trailOk(sb, ['stamp', '--name', 'w']);
  assert.match(
    r.stderr.toString(),
    new RegExp(`removed a stale git lock ${join(sb.repo, 'refs/notes/trail-ots.lock')} `),
  );
  assert.ok(revParse(sb.repo, 'refs/notes/trail-ots'), 'the proofs were written');
  assertFsck(sb.repo);
});

test("trail's own idle helpers and readers do not hold locks; a helper's fresh lock is given its moment", async (t) => {
  const sb = await initialized(t);
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  // What the daemon keeps running: a ref updater between transactions and a object reader.
  const helper = spawn('git', ['--git-dir', sb.repo, 'update-ref', '-m', 'trail: watch', '--stdin'], { env });
  const reader = spawn('git', ['--git-dir', sb.repo, 'cat-file', '--batch'], { env });
  t.after(() => {
    helper.kill('SIGKILL');
    reader.kill('SIGKILL');
  });
  const lock = join(sb.repo, 'refs', 'heads', 'approved.lock');
  const logged: string[] = [];
  const log = (l: string) => logged.push(l);
  // A fresh lock might be the helper's own, mid-transaction: not removed within a short wait.
  // (Dated a minute ahead, so that it stays fresh however slowly this machine runs.)
  writeFileSync(lock, '');
  const ahead = (Date.now() + 60_000) / 1000;
  utimesSync(lock, ahead, ahead);
  await assert.rejects(sweepGitLocks(sb.repo, { waitMs: 300, log }), (e: Error) => {
    assert.match(e.message, new RegExp(`held: process ${helper.pid} \\(git --git-dir .* update-ref -m trail: watch`));
    return true;
  });
  assert.ok(existsSync(lock));
  assert.ok(!logged.some((l) => l.includes(String(reader.pid))), 'a reader is never waited for');
  // An old one cannot be: a helper's transaction lasts milliseconds.
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(lock, old, old);
  assert.deepEqual(await sweepGitLocks(sb.repo, { waitMs: 300, log }), ['refs/heads/approved.lock']);
  assert.ok(!existsSync(lock));
  assert.equal(logged.filter((l) => l.startsWith('removed a stale git lock')).length, 1);
  // trail's own state is not git's: its lock files are never touched here.
  writeFileSync(join(sb.repo, 'trail', 'anchor.lock'), `${process.pid}\n`);
  assert.deepEqual(await sweepGitLocks(sb.repo, { waitMs: 0, log }), []);
  assert.ok(readdirSync(join(sb.repo, 'trail')).includes('anchor.lock'));
});
