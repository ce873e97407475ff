import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, utimesSync, statSync, chmodSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { trail, tempDir, git } from '../support/cli.js';

async function setup(t: { after(fn: () => void): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(join(dir, 'nginx'), { recursive: true });
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'worker_processes 1;\n');
  writeFileSync(join(dir, 'nginx', 'mime.types'), 'text/html html;\n');
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  return { home, dir, repo: init.json.repo as string, first: init.json.commit as string };
}

test('status: exit 3 on drift; --full catches a content change whose size and mtime were restored', async (t) => {
  const { home, dir } = await setup(t);
  assert.equal((await trail(home, ['status'])).code, 0);
  const f = join(dir, 'hosts');
  const st = statSync(f);
  // Wait until the cache trusts this file's stat data, then change a byte in place and put
  // size and mtime back: only re-reading can see it.
  await new Promise((r) => setTimeout(r, 2100));
  await trail(home, ['snapshot']); // refreshes the stat cache now that the file is not racy
  writeFileSync(f, '127.0.0.2 localhost\n');
  utimesSync(f, st.atime, st.mtime);
  const fast = await trail(home, ['status', '--json']);
  const full = await trail(home, ['status', '--full', '--json']);
  assert.equal(full.code, 3);
  assert.deepEqual(
    full.json.changes.map((c: { path: string }) => c.path),
    ['hosts'],
  );
  assert.equal(full.json.read, 3, '--full re-read every file');
  // The fast path trusts stat data (ctime changed here, so it may see it too): never more.
  assert.ok(fast.json.changes.length <= 1);
});

test('log with a path, show, diff between revisions and against the disk', async (t) => {
  const { home, dir, first } = await setup(t);
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'worker_processes 4;\n');
  const a = await trail(home, ['snapshot', '-m', 'more workers', '--json']);
  chmodSync(join(dir, 'nginx', 'mime.types'), 0o600);
  const b = await trail(home, ['snapshot', '-m', 'tighten mime.types', '--json']);
  chmodSync(join(dir, 'nginx', 'nginx.conf'), 0o640);
  const c = await trail(home, ['snapshot', '-m', 'nginx.conf mode', '--json']);

  const all = await trail(home, ['log', '--json']);
  assert.deepEqual(
    all.json.commits.map((x: { subject: string }) => x.subject),
    ['nginx.conf mode', 'tighten mime.types', 'more workers', `trail init: first snapshot of ${dir}`],
  );
  // Only commits that changed nginx.conf's content or metadata, not its neighbour's.
  const one = await trail(home, ['log', 'nginx/nginx.conf', '--json']);
  assert.deepEqual(
    one.json.commits.map((x: { commit: string }) => x.commit),
    [c.json.commit, a.json.commit, first],
  );

  const show = await trail(home, ['show', a.json.commit]);
  assert.match(show.stdout, /more workers/);
  assert.match(show.stdout, /-worker_processes 1;\n\+worker_processes 4;/);
  const showB = await trail(home, ['show', b.json.commit, '--json']);
  assert.deepEqual(showB.json.changes, [
    { path: 'nginx/mime.types', change: 'metadata', details: ['mode 0644 → 0600'] },
  ]);

  const d = await trail(home, ['diff', first, c.json.commit, '--json']);
  assert.deepEqual(
    d.json.changes.map((x: { path: string }) => x.path),
    ['nginx/mime.types', 'nginx/nginx.conf'],
  );
  writeFileSync(join(dir, 'hosts'), 'changed on disk\n');
  const disk = await trail(home, ['diff']);
  assert.match(disk.stdout, /\+changed on disk/);
  const limited = await trail(home, ['diff', '--json', first, c.json.commit, '--', 'nginx/mime.types']);
  assert.deepEqual(
    limited.json.changes.map((x: { path: string }) => x.path),
    ['nginx/mime.types'],
  );
});

test('revert: --dry-run changes nothing; paths limit it; changes on disk are recorded first', async (t) => {
  const { home, dir, repo, first } = await setup(t);
  writeFileSync(join(dir, 'hosts'), 'evil\n');
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'evil too\n');
  writeFileSync(join(dir, 'new.conf'), 'new\n');
  const dry = await trail(home, ['revert', first, '--dry-run', '--json']);
  assert.equal(dry.code, 0);
  assert.deepEqual(dry.json.plan.write.sort(), ['hosts', 'nginx/nginx.conf']);
  assert.deepEqual(dry.json.plan.remove, ['new.conf']);
  assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), 'evil\n', 'dry run wrote nothing');
  const head = git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim();
  assert.equal(head, first, 'dry run recorded nothing');

  const some = await trail(home, ['revert', first, 'hosts', '--json']);
  assert.equal(some.code, 0, some.stderr);
  assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.equal(readFileSync(join(dir, 'nginx', 'nginx.conf'), 'utf8'), 'evil too\n', 'other paths untouched');
  assert.ok(existsSync(join(dir, 'new.conf')));
  // The evil state was recorded before the revert, by an unknown actor, then the revert.
  const log = git(repo, ['log', '--format=%an|%s', 'refs/heads/observed']).stdout.toString().trim().split('\n');
  assert.equal(log.length, 3);
  assert.match(log[0]!, /\|revert of hosts to /);
  assert.match(log[1]!, /^unknown\|changes found before a revert/);
  const evil = git(repo, ['cat-file', 'blob', 'refs/heads/observed~1:hosts']).stdout.toString();
  assert.equal(evil, 'evil\n');
});

test('revert: a PATH neither at the revision nor on disk is a usage error naming it; nothing is reverted', async (t) => {
  const { home, dir, repo, first } = await setup(t);
  writeFileSync(join(dir, 'hosts'), 'evil\n');
  rmSync(join(dir, 'nginx', 'mime.types'));
  for (const args of [
    [first, 'hosts', 'nginx/nginx.cnof'],
    [first, 'nginx/nginx.cnof', '--dry-run'],
  ]) {
    const r = await trail(home, ['revert', ...args]);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /nginx\/nginx\.cnof: neither in [0-9a-f]{12} nor on disk/);
    assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), 'evil\n', 'nothing reverted');
  }
  assert.equal(git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), first);
  // Only at the revision (deleted since) or only on disk (new since) is a path to revert.
  writeFileSync(join(dir, 'new.conf'), 'new\n');
  const ok = await trail(home, ['revert', first, 'nginx/mime.types', 'new.conf', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(readFileSync(join(dir, 'nginx', 'mime.types'), 'utf8'), 'text/html html;\n');
  assert.ok(!existsSync(join(dir, 'new.conf')));
});

test('an interrupted revert is finished by the next command, which says so', async (t) => {
  const { home, dir, repo, first } = await setup(t);
  writeFileSync(join(dir, 'hosts'), 'changed\n');
  await trail(home, ['snapshot']);
  // What a revert leaves behind when it is killed after writing its journal.
  writeFileSync(
    join(repo, 'trail', 'revert-journal.json'),
    JSON.stringify({ target: first, paths: [], by: 'alice', pid: 999999, started: new Date().toISOString() }),
  );
  const r = await trail(home, ['snapshot', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /finished a revert to .* that was interrupted \(started by alice/);
  assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  assert.ok(!existsSync(join(repo, 'trail', 'revert-journal.json')));
  const last = git(repo, ['log', '-1', '--format=%an|%s', 'refs/heads/observed']).stdout.toString();
  assert.match(last, /^alice\|finish interrupted revert of everything/);
});

test('accept after an interrupted revert accepts the state the finished revert left, not the one it undid', async (t) => {
  const { home, dir, repo, first } = await setup(t);
  writeFileSync(join(dir, 'hosts'), 'bad\n');
  await trail(home, ['snapshot']);
  // What a revert to the first snapshot leaves behind when it is killed after its journal.
  writeFileSync(
    join(repo, 'trail', 'revert-journal.json'),
    JSON.stringify({ target: first, paths: [], by: 'alice', pid: 999999, started: new Date().toISOString() }),
  );
  const r = await trail(home, ['accept', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /finished a revert to .* that was interrupted/);
  assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  const approved = git(repo, ['cat-file', 'blob', 'refs/heads/approved:hosts']).stdout.toString();
  assert.equal(approved, '127.0.0.1 localhost\n');
  assert.equal((await trail(home, ['drift'])).code, 0);
});

test('accept of a path in neither the revision nor approved is a usage error, as revert says of one', async (t) => {
  const { home, dir, repo } = await setup(t);
  writeFileSync(join(dir, 'hosts'), 'changed\n');
  await trail(home, ['snapshot']);
  const approved = git(repo, ['rev-parse', 'refs/heads/approved']).stdout.toString();
  const typo = await trail(home, ['accept', 'observed', 'hostz', '--json']);
  assert.equal(typo.code, 2, typo.stderr);
  assert.match(typo.json.error.message, /hostz: neither in [0-9a-f]{12} nor in approved/);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/approved']).stdout.toString(), approved);
  const real = await trail(home, ['accept', 'observed', 'hosts', '--json']);
  assert.equal(real.code, 0, real.stderr);
  assert.equal(real.json.changes.length, 1);
});

test('status says when the watcher could not name who changed things', async (t) => {
  const { home, dir, repo } = await setup(t);
  const { Repo } = await import('../../src/record/repo/repo.js');
  const { record } = await import('../../src/record/snapshot.js');
  const before = await trail(home, ['status', '--json']);
  assert.equal(before.json.attribution.degraded, false);
  // What trail watch writes when audit is not available.
  writeFileSync(join(dir, 'hosts'), 'changed while audit was down\n');
  const r = await Repo.open(repo);
  await r.lock.acquire(5000);
  await record(r, {
    subject: 'M hosts',
    actor: { name: 'unknown' },
    action: 'watch',
    trailers: { 'Trail-Actor': 'unknown (auditd is not running)', 'Trail-Attribution': 'degraded' },
  });
  await r.lock.release();
  r.close();
  const after = await trail(home, ['status', '--json']);
  assert.equal(after.json.attribution.degraded, true);
  assert.match(after.stderr, /attribution is degraded: .*auditd is not running/);
});
