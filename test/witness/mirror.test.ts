// The witness's mirror must never lose an object: gc off, reflogs kept, fetched objects
// checked. initMirror sets that on a new mirror and puts back any value found changed (a run
// killed right after `git init` leaves the defaults; anyone may edit the config).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initMirror } from '../../src/witness/mirror.js';

const base = mkdtempSync(join(tmpdir(), 'trail-mirror-'));
after(() => rmSync(base, { recursive: true, force: true }));

const WANT = {
  'gc.auto': '0',
  'gc.autodetach': 'false',
  'gc.pruneexpire': 'never',
  'gc.reflogexpire': 'never',
  'gc.reflogexpireunreachable': 'never',
  'core.logallrefupdates': 'always',
  'fetch.fsckobjects': 'true',
};
const config = (gitDir: string) =>
  Object.fromEntries(
    spawnSync('git', [`--git-dir=${gitDir}`, 'config', '--local', '--list'], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
      .filter(([k]) => k! in WANT),
  );

test('initMirror: a new mirror keeps every object; a value changed since is put back', async () => {
  const gitDir = join(base, 'mirror.git');
  await initMirror(gitDir);
  assert.deepEqual(config(gitDir), WANT);
  const git = (...args: string[]) => assert.equal(spawnSync('git', [`--git-dir=${gitDir}`, ...args]).status, 0);
  git('config', 'gc.auto', '6700');
  git('config', '--unset', 'fetch.fsckObjects');
  git('config', 'core.logAllRefUpdates', 'true');
  await initMirror(gitDir);
  assert.deepEqual(config(gitDir), WANT);
});
