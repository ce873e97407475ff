// The watched directory on another filesystem than the shadow repository (a tmpfs here, as
// /etc on its own mount or a bind mount would be): recording and restoring work across it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, tempDir, git } from '../support/cli.js';

test('a watched directory on its own filesystem: snapshot, revert and status --full across the mount', async (t) => {
  const tmp = tempDir();
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', dir]);
  assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
  t.after(() => {
    if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
    tmp.cleanup();
  });
  assert.notEqual(statSync(dir).dev, statSync(tmp.path).dev, 'really another filesystem');
  mkdirSync(join(dir, 'ssh'));
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(dir, 'ssh', 'sshd_config'), 0o600);
  const home = join(tmp.path, 'home');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
  chmodSync(join(dir, 'ssh', 'sshd_config'), 0o644);
  writeFileSync(join(dir, 'new'), 'new\n');
  assert.equal((await trail(home, ['snapshot'])).code, 0);
  const rev = await trail(home, ['revert', 'approved', '--json']);
  assert.equal(rev.code, 0, rev.stderr);
  assert.equal(readFileSync(join(dir, 'ssh', 'sshd_config'), 'utf8'), 'PermitRootLogin no\n');
  assert.equal(statSync(join(dir, 'ssh', 'sshd_config')).mode & 0o7777, 0o600);
  const st = await trail(home, ['status', '--full', '--json']);
  assert.equal(st.json.clean, true, JSON.stringify(st.json.changes));
  assert.equal(git(init.json.repo, ['fsck', '--strict']).code, 0);
});
