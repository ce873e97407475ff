// Option values that count things are checked: `-n abc` is a usage error, not "no limit".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trail, initTrail } from '../support/cli.js';

test('log -n and access -n take a whole number above 0', async (t) => {
  const { home } = await initTrail(t, { 'a.conf': 'a\n' });
  for (const cmd of ['log', 'access'])
    for (const n of ['abc', '0', '-1', '1.5']) {
      const r = await trail(home, [cmd, '-n', n, '--json']);
      assert.equal(r.code, 2, `${cmd} -n ${n}: ${r.stdout}${r.stderr}`);
      assert.match(r.json?.error?.message ?? '', /whole number above 0/);
    }
  const ok = await trail(home, ['log', '-n', '1', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.commits.length, 1);
});
