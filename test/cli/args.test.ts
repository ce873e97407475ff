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

test('--since and --until take dates trail reads one way: a typo is a usage error, not an empty trail', async (t) => {
  const { home } = await initTrail(t, { 'a.conf': 'a\n' });
  const bad = ['7 dayz ago', 'garbage', 'last tuesday', '', '-1'];
  for (const args of [
    ['log', '--since'],
    ['log', '--until'],
    ['events', '--since'],
    ['report', '--since'],
  ])
    for (const d of bad) {
      const r = await trail(home, [...args, d, '--json']);
      assert.equal(r.code, 2, `${args.join(' ')} ${JSON.stringify(d)}: ${r.stdout}${r.stderr}`);
      assert.match(r.json?.error?.message ?? '', /not a date trail reads/);
    }
  for (const d of ['2 days ago', 'yesterday', '2000-01-01', '2000-01-01 13:00', '@946684800']) {
    const r = await trail(home, ['log', '--since', d, '--json']);
    assert.equal(r.code, 0, `${d}: ${r.stderr}`);
    assert.equal(r.json.commits.length, 1, `--since ${d} finds the commit just made`);
  }
  const until = await trail(home, ['log', '--until', '2000-01-01', '--json']);
  assert.equal(until.json.commits.length, 0);
  const interval = await trail(home, ['events', '--follow', '--interval', 'abc']);
  assert.equal(interval.code, 2);
});
