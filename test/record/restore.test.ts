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
