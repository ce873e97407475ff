// The witness's own state survives kill -9: killed at any moment of a check (fetching,
// judging, keeping lost tips, saving), the next run starts from the last saved state, takes
// over the dead run's lock, and reports what happened exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../support/cli.js';
import { sleep } from '../support/wait.js';
import { addSource, check, ordinaryHost, push, witness, world } from './helpers.js';

test('witness state survives kill -9 at any point of a check', async (t) => {
  const w = await world(t);
  const hosts = ['web1', 'web2', 'db1'].map((n) => ordinaryHost(w, n));
  for (const h of hosts) await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);
  const first = await check(w);
  assert.equal(first.code, 10, JSON.stringify(first.json.findings, null, 1));
  assert.equal(statSync(w.state).mode & 0o777, 0o700);

  // Meanwhile: web1's observed is rewritten, the others carry on.
  const web1 = hosts[0]!;
  const old = web1.head('observed')!;
  web1.git(['update-ref', 'refs/heads/observed', `${old}~1`]);
  web1.change('mallory', { motd: 'hi\n' });
  await push(w, web1, { force: true, kinds: ['observed'] });
  for (const h of hosts.slice(1)) {
    h.checkpoint('heartbeat');
    await push(w, h);
  }

  for (const delay of [150, 400, 700, 1000, 1400, 1900, 2500]) {
    const child = spawn(process.execPath, [BIN, 'witness', '--state', w.state, 'check', '--json'], {
      env: { ...process.env, TRAIL_HOME: w.home, GITHUB_TOKEN: w.owner.token },
      stdio: 'ignore',
    });
    // Listened for from the start: a check faster than the delay has closed before the kill.
    const closed = new Promise((r) => child.on('close', r));
    await sleep(delay);
    child.kill('SIGKILL');
    await closed;
    // Whatever the moment, state.json is whole (the previous run's or this one's).
    const s = JSON.parse(readFileSync(join(w.state, 'state.json'), 'utf8'));
    assert.equal(s.v, 1);
  }
  const r = await check(w);
  assert.equal(r.code, 11, r.stderr);
  const rewrites = r.json.findings.filter((f: { kind: string }) => f.kind === 'rewrite');
  assert.equal(rewrites.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.equal(rewrites[0].commits[0], old);
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  const git = (args: string[]) => spawnSync('git', [`--git-dir=${join(w.state, 'mirror.git')}`, ...args], { env });
  assert.equal(
    git(['rev-parse', `refs/witness/kept/acme/fleet/web1/etc/observed/${old}`])
      .stdout.toString()
      .trim(),
    old,
  );
  assert.equal(git(['fsck', '--no-dangling']).status, 0);
  // The witness's own history has the runs that completed.
  assert.ok(Number(git(['rev-list', '--count', 'refs/witness/state']).stdout.toString()) >= 2);
  const again = await check(w);
  assert.deepEqual(again.json.new, []);
  const list = await witness(w, ['list', '--json']);
  assert.equal(list.json.hosts.length, 3);
});
