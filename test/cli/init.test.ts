import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { trail, tempDir, git, scratchTrail } from '../support/cli.js';

test('init records a first commit on observed and approved, writes nothing into the dir, repo 0700', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(join(dir, 'ssh'), { recursive: true });
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  const before = readdirSync(dir).sort();
  const r = await trail(home, ['init', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.json.name,
    'tmp-' +
      dir
        .split('/')
        .slice(2)
        .join('-')
        .replace(/[^A-Za-z0-9._-]/g, '_'),
  );
  assert.equal(r.json.files, 2);
  assert.deepEqual(readdirSync(dir).sort(), before, 'nothing written into the watched dir');
  const repo = r.json.repo as string;
  assert.equal(statSync(repo).mode & 0o777, 0o700);
  const observed = git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim();
  assert.equal(git(repo, ['rev-parse', 'refs/heads/approved']).stdout.toString().trim(), observed);
  assert.equal(observed, r.json.commit);
  // A fresh home has no host key: init makes it before the first commit, which it signs.
  const pub = readFileSync(join(home, 'keys', 'host_ed25519.pub'), 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  const signers = join(tmp.path, 'allowed_signers');
  writeFileSync(signers, `trail ${pub}\n`);
  const verified = git(repo, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', observed]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(git(repo, ['cat-file', 'blob', `${observed}:.trail/FORMAT`]).stdout.toString(), 'trail 1\n');
  assert.equal(
    git(repo, ['cat-file', 'blob', `${observed}:ssh/sshd_config`]).stdout.toString(),
    'PermitRootLogin no\n',
  );
  const manifest = git(repo, ['cat-file', 'blob', `${observed}:.trail/meta/ssh/@meta`]).stdout.toString();
  assert.match(manifest, /"name":"sshd_config","kind":"file","mode":"0644"/);
  assert.equal(git(repo, ['fsck', '--strict']).code, 0);
  const list = await trail(home, ['list', '--json']);
  assert.deepEqual(
    list.json.trails.map((x: { dir: string }) => x.dir),
    [dir],
  );
});

test('init refuses, clearly: missing dir, a file, twice, repo inside the dir', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(tmp.path, 'file'), 'x');
  const missing = await trail(home, ['init', join(tmp.path, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does not exist/);
  const file = await trail(home, ['init', join(tmp.path, 'file')]);
  assert.equal(file.code, 2);
  assert.match(file.stderr, /not a directory/);
  const inside = await trail(home, ['init', dir, '--repo', join(dir, 'shadow.git')]);
  assert.equal(inside.code, 2);
  assert.match(inside.stderr, /inside/);
  assert.deepEqual(readdirSync(dir), [], 'nothing was created in the watched dir');
  assert.equal((await trail(home, ['init', dir])).code, 0);
  const twice = await trail(home, ['init', dir]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /already/);
});

test('several watched dirs: --name chooses, the current dir chooses, forget stops tracking', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  for (const n of ['a', 'b']) {
    mkdirSync(join(tmp.path, n));
    writeFileSync(join(tmp.path, n, 'f'), n);
    assert.equal((await trail(home, ['init', join(tmp.path, n), '--name', n])).code, 0);
  }
  const ambiguous = await trail(home, ['status'], { cwd: tmp.path });
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /several directories are watched.*a → .*b → /);
  const byCwd = await trail(home, ['status', '--json'], { cwd: join(tmp.path, 'b') });
  assert.equal(byCwd.json.name, 'b');
  const byName = await trail(home, ['status', '--json', '--name', 'a'], { cwd: tmp.path });
  assert.equal(byName.json.name, 'a');
  const forget = await trail(home, ['forget', 'a', '--delete-repo', '--json']);
  assert.equal(forget.code, 0, forget.stderr);
  const list = await trail(home, ['list', '--json']);
  assert.deepEqual(
    list.json.trails.map((x: { name: string }) => x.name),
    ['b'],
  );
  const onlyOne = await trail(home, ['status', '--json'], { cwd: tmp.path });
  assert.equal(onlyOne.json.name, 'b');
});

test('forget keeps the trail, and init of the same directory goes on with it: the gap recorded, the baseline kept', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const first = await trail(home, ['init', dir, '--name', 'etc', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const repo = first.json.repo as string;
  const forgot = await trail(home, ['forget', 'etc']);
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.match(forgot.stdout, new RegExp(`to go on with it: trail --name etc init ${dir}\n`));
  writeFileSync(join(dir, 'hosts'), '10.0.0.66 localhost\n');
  const again = await trail(home, ['init', dir, '--name', 'etc', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json.repo, repo);
  assert.match(again.json.resumed.since, /^\d{4}-/);
  assert.equal(again.json.changes, 1);
  // The history goes on from the kept commit; what changed meanwhile names no one; the
  // accepted baseline is not what was found.
  assert.equal(
    git(repo, ['rev-parse', `${again.json.commit}^`])
      .stdout.toString()
      .trim(),
    first.json.commit,
  );
  const msg = git(repo, ['log', '-1', '--format=%B', again.json.commit]).stdout.toString();
  assert.match(msg, /Trail-Action: watch-gap/);
  assert.match(msg, /Trail-Actor: unknown \(changed while not tracked\)/);
  assert.match(msg, /Trail-Unwatched-Since: /);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/approved']).stdout.toString().trim(), first.json.commit);
  const status = await trail(home, ['status', '--json', '--name', 'etc']);
  assert.equal(status.code, 0, status.stdout);
  // Kept under its own name: another name at the same place is told which, and nothing changes.
  assert.equal((await trail(home, ['forget', 'etc'])).code, 0);
  const other = await trail(home, ['init', dir, '--name', 'other', '--repo', repo]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /holds the trail of .* kept as "etc"/);
  assert.match(other.stderr, /trail --name etc init /);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), again.json.commit);
});

test('inits at once: of one directory, one wins and its trail works; of several, every one is listed', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  // Rounds, because the race is one of timing; each round is a fresh host state folder.
  for (let round = 0; round < 2; round++) {
    const home = join(tmp.path, `home${round}`);
    const dir = join(tmp.path, `same${round}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), `${round}\n`);
    const both = await Promise.all([0, 1].map(() => trail(home, ['init', dir, '--name', 'x'])));
    const won = both.filter((r) => r.code === 0);
    assert.equal(won.length, 1, both.map((r) => `${r.code}: ${r.stderr}`).join('\n'));
    const lost = both.find((r) => r.code !== 0)!;
    assert.match(lost.stderr, /already initialized|an init of .* is running/, lost.stderr);
    const st = await trail(home, ['status', '--name', 'x', '--json']);
    assert.equal(st.code, 0, `round ${round}: the winner's trail is broken: ${st.stderr}`);
    assert.equal(st.json.clean, true);

    const names = ['a', 'b', 'c'];
    for (const n of names) {
      mkdirSync(join(tmp.path, `${n}${round}`));
      writeFileSync(join(tmp.path, `${n}${round}`, 'f'), n);
    }
    const many = await Promise.all(
      names.map((n) => trail(home, ['init', join(tmp.path, `${n}${round}`), '--name', n])),
    );
    for (const r of many) assert.equal(r.code, 0, r.stderr);
    const list = await trail(home, ['list', '--json']);
    assert.deepEqual(
      list.json.trails.map((x: { name: string }) => x.name).sort(),
      [...names, 'x'],
      `round ${round}: a registration was lost`,
    );
  }
});

test('an init killed before its first commit does not block the next init of that dir', async (t) => {
  const { tmp, home, dir } = scratchTrail(t, { f: 'x' });
  // What a kill -9 right after the repository was created leaves: a trail repo, no commit,
  // not in the host's list.
  const first = await trail(home, ['init', dir, '--json']);
  const repo = first.json.repo as string;
  git(repo, ['update-ref', '-d', 'refs/heads/observed']);
  writeFileSync(join(home, 'trails.json'), JSON.stringify({ trails: [] }));
  const again = await trail(home, ['init', dir, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(git(repo, ['rev-list', '--count', 'refs/heads/observed']).stdout.toString().trim(), '1');
  // A foreign non-empty directory is still refused.
  const other = join(tmp, 'other');
  mkdirSync(other);
  mkdirSync(join(tmp, 'busy.git'));
  writeFileSync(join(tmp, 'busy.git', 'x'), 'y');
  const refused = await trail(home, ['init', other, '--repo', join(tmp, 'busy.git')]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /already exists and is not empty/);
});

test('an init killed inside git init (its symlink probe left behind) does not block the next init', async (t) => {
  const { tmp, home, dir } = scratchTrail(t, { f: 'x' });
  const repo = join(tmp, 'w.git');
  // git init checks for symlinks with mkstemp's "tXXXXXX" in the new git dir, then a symlink
  // by that name, and removes it: found by kill -9 at a random moment of init (a CI soak run).
  assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
  symlinkSync('testing', join(repo, 't5o8Tl7'));
  const again = await trail(home, ['init', dir, '--repo', repo, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(git(repo, ['rev-list', '--count', 'refs/heads/observed']).stdout.toString().trim(), '1');
  // Any other name is not git init's: refused, as before.
  const other = join(tmp, 'other.git');
  assert.equal(spawnSync('git', ['init', '--bare', '-q', other]).status, 0);
  writeFileSync(join(other, 'notes.txt'), 'mine');
  const otherDir = join(tmp, 'o');
  mkdirSync(otherDir);
  const refused = await trail(home, ['init', otherDir, '--repo', other]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /already exists and is not empty/);
});

test('an init killed while it wrote repo.json (only its temp file there) does not block the next init', async (t) => {
  const { tmp, home, dir } = scratchTrail(t, { f: 'x' });
  const repo = join(tmp, 'w.git');
  // git init --bare done, trail/ made, repo.json not yet renamed into place: what the soak
  // run (kill -9 at random moments, 30 rounds) found refused as "not empty".
  assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
  mkdirSync(join(repo, 'trail'), { mode: 0o700 });
  writeFileSync(join(repo, 'trail', 'repo.json.tmp.12345.k3j4h5'), '{"format":1,');
  const again = await trail(home, ['init', dir, '--repo', repo, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(git(repo, ['rev-list', '--count', 'refs/heads/observed']).stdout.toString().trim(), '1');
});
