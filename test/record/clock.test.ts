// Clock jumps (libfaketime, as an attacker or a broken NTP would cause): recording stays
// correct — the stat cache never trusts a file it should re-read — and the history keeps its
// order by parentage whatever the dates say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, git, trail } from '../support/cli.js';

const trailAt = (offset: string, home: string, args: string[]) =>
  trail(home, args, { wrap: ['faketime', '-f', offset] });

test('clock jumps forward and back: every change recorded, status --full clean, history ordered by parents', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a'), 'one\n');
  const init = await trailAt('+30d', home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const repo = init.json.repo as string;
  const steps: [string, string][] = [
    ['-3d', 'two\n'],
    ['+0', 'three\n'],
    ['-400d', 'four\n'],
    ['+2y', 'five\n'],
  ];
  for (const [offset, content] of steps) {
    writeFileSync(join(dir, 'a'), content);
    writeFileSync(join(dir, `new${offset}`), content);
    const snap = await trailAt(offset, home, ['snapshot', '--json']);
    assert.equal(snap.code, 0, `${offset}: ${snap.stderr}`);
    assert.ok(snap.json.commit, `${offset}: a commit`);
    // Right after a snapshot under any clock, an in-place change of the same size must be seen.
    writeFileSync(join(dir, 'a'), content.toUpperCase());
    const st = await trailAt(offset, home, ['status', '--json']);
    assert.deepEqual(
      st.json.changes.map((c: { path: string }) => c.path),
      ['a'],
      `${offset}: the stat cache trusted a file it should re-read`,
    );
    writeFileSync(join(dir, 'a'), content);
  }
  const full = await trailAt('+0', home, ['status', '--full', '--json']);
  assert.equal(full.json.clean, true, JSON.stringify(full.json.changes));
  assert.equal(git(repo, ['fsck', '--strict']).code, 0);
  // Parentage, not dates, orders the trail: five commits in the order they were made.
  const subjects = git(repo, ['log', '--format=%s', '--topo-order', 'refs/heads/observed'])
    .stdout.toString()
    .trim()
    .split('\n');
  assert.equal(subjects.length, 5);
  assert.match(subjects[4]!, /^trail init/);
  assert.equal(git(repo, ['cat-file', 'blob', 'refs/heads/observed:a']).stdout.toString(), 'five\n');
});
