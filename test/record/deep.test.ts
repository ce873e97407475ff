import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { trail, tempDir } from '../support/cli.js';

test('a tree deeper than PATH_MAX: what cannot be named is skipped with the reason, the rest recorded', async (t) => {
  const tmp = tempDir();
  // Node's rm walks by full path and fails past PATH_MAX; GNU rm does not.
  t.after(() => {
    spawnSync('rm', ['-rf', tmp.path]);
  });
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'shallow'), 'x');
  // Build it relative to a moving cwd: the full path of the bottom exceeds 4096 bytes.
  const cwd = process.cwd();
  t.after(() => process.chdir(cwd));
  process.chdir(dir);
  for (let i = 0; i < 25; i++) {
    mkdirSync('d'.repeat(200));
    process.chdir('d'.repeat(200));
  }
  writeFileSync('leaf', 'deep');
  process.chdir(cwd);
  const r = await trail(join(tmp.path, 'home'), ['init', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.skipped.length, 1);
  assert.match(r.json.skipped[0].reason, /name too long/);
  assert.ok(r.json.files >= 1);
});
