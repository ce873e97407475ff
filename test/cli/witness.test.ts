// `trail witness check --help` names every exit code the check returns (README, "Exit codes").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trail, tempDir } from '../support/cli.js';

test('witness check --help names exit 12 (a source could not be read)', async (t) => {
  const home = tempDir();
  t.after(home.cleanup);
  const r = await trail(home.path, ['witness', 'check', '--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const code of ['0', '10', '11', '12']) assert.match(r.stdout, new RegExp(`\\b${code} `), `exit ${code}`);
  assert.match(r.stdout, /12 a source could not be read/);
});
