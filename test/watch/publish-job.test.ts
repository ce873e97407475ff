// trail watch with a remote, end to end: a real daemon, real git pushes through git
// http-backend to the GitHub stand-in. A change reaches the remote within the push delay, a
// burst makes a handful of pushes, checkpoints and the stop checkpoint go up too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCheckpointMessage } from '../../src/record/checkpoint/checkpoint-format.js';
import { FULL, shadowRef, world } from '../act/review/helpers.js';
import { BIN, sleep, waitFor } from './helpers.js';
import { publishSettings } from '../../src/watch/publish-job.js';

const PLAIN_POLICY = ['version: 1', 'default: record', 'alert:', '  syslog: false'].join('\n');

test('trail watch pushes what it records within the delay, in few pushes, checkpoints included', async (t) => {
  const w = await world(t);
  const h = await w.addHost('web1', {
    policy: PLAIN_POLICY,
    config: { 'remote.pushDelaySeconds': '1', 'remote.checkpointSeconds': '2', 'watch.quietMs': '100' },
  });
  const remoteTip = (name: string) => {
    const r = w.gh.gitIn(FULL, ['rev-parse', '--verify', '--quiet', `refs/heads/${h.prefix}/${name}`]);
    return r.code === 0 ? r.out : undefined;
  };
  const pushes = () => w.gh.gitRequests.filter((r) => r.path.endsWith('/git-receive-pack')).length;
  // The daemon has 1 s to take a command's question, else the command answers itself; the
  // checks below that the watcher answered must not depend on that on a loaded machine.
  const ask = (args: string[]) => h.run(args, { TRAIL_WATCHER_TIMEOUT_MS: '60000' });
  const child = spawn(process.execPath, [BIN, 'watch', '--json', '--verbose'], {
    env: { ...process.env, TRAIL_HOME: h.home, GITHUB_TOKEN: w.bot.token, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((r) => child.on('exit', r));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  await waitFor(
    'the daemon to start',
    () => /"event":"start"/.test(out),
    120_000,
    () => err,
  );
  await waitFor(
    'the start to reach the remote',
    () => remoteTip('observed') === shadowRef(h, 'refs/heads/observed'),
    60_000,
  );

  // One change: on the remote within the delay (the latency is printed, not asserted).
  const t0 = Date.now();
  writeFileSync(join(h.dir, 'hosts'), '127.0.0.1 changed\n');
  await waitFor(
    'the change committed',
    () => /"event":"commit"/.test(out) || /hosts/.test(out),
    60_000,
    () => err,
  );
  await waitFor(
    'the change on the remote',
    () => {
      const tip = remoteTip('observed');
      return !!tip && tip === shadowRef(h, 'refs/heads/observed');
    },
    60_000,
  );
  const latency = Date.now() - t0;
  t.diagnostic(`write → on the remote: ${latency} ms (push delay 1 s)`);

  // A burst of 200 writes over ~2 s: a handful of pushes, not one per commit. The publisher
  // starts a round no sooner than the delay after the last one started (heartbeats only add
  // notifies), so over the window at most elapsed / delay + 1 rounds start, plus one that
  // started before it and whose push lands in it. The window's length is measured, not assumed.
  const w0 = Date.now();
  const before = pushes();
  for (let i = 0; i < 200; i++) {
    writeFileSync(join(h.dir, `burst-${i % 20}`), `${i}\n`);
    if (i % 20 === 19) await sleep(200);
  }
  await waitFor('the burst on the remote', () => remoteTip('observed') === shadowRef(h, 'refs/heads/observed'), 60_000);
  await sleep(1500);
  await waitFor('in sync again', () => remoteTip('observed') === shadowRef(h, 'refs/heads/observed'), 60_000);
  const burstPushes = pushes() - before;
  const windowMs = Date.now() - w0;
  const most = Math.floor(windowMs / 1000) + 2;
  t.diagnostic(`burst: ${burstPushes} pushes for 200 writes, over a ${windowMs} ms window (at most ${most})`);
  assert.ok(burstPushes <= most, `${burstPushes} pushes in ${windowMs} ms with a 1 s delay`);

  // The watcher answers trail status with the backlog it keeps per refs: a commit waiting
  // for its push is counted, and once `trail push` has moved the marks, it no longer is.
  const reload = async (delay: string) => {
    assert.equal((await ask(['config', 'set', 'remote.pushDelaySeconds', delay])).code, 0);
    const seen = (out.match(/"event":"reload"/g) ?? []).length;
    child.kill('SIGHUP');
    await waitFor('the reload', () => (out.match(/"event":"reload"/g) ?? []).length > seen, 60_000);
  };
  await reload('600');
  const head = shadowRef(h, 'refs/heads/observed');
  writeFileSync(join(h.dir, 'hosts'), '127.0.0.1 waiting\n');
  await waitFor('the waiting change committed', () => shadowRef(h, 'refs/heads/observed') !== head, 60_000);
  const waiting = await ask(['status', '--json']);
  assert.ok(waiting.json?.answeredBy?.watcher, `answered by the watcher: ${waiting.stdout}${waiting.stderr}`);
  // observed's own count: heartbeat checkpoints (every 2 s here) wait for the push too.
  const observedBacklog = (r: { json: any }) =>
    r.json.publish.refs.find((x: { name: string }) => x.name === 'observed').commits as number;
  assert.equal(observedBacklog(waiting), 1, JSON.stringify(waiting.json.publish));
  assert.equal((await h.run(['push'])).code, 0);
  const pushed = await ask(['status', '--json']);
  assert.ok(pushed.json?.answeredBy?.watcher, pushed.stdout);
  assert.equal(observedBacklog(pushed), 0, JSON.stringify(pushed.json.publish));
  await reload('1');

  // A clean stop: the stop checkpoint is the last thing pushed.
  child.kill('SIGTERM');
  await exited;
  const tip = remoteTip('checkpoints');
  assert.ok(tip, 'checkpoints are published');
  assert.equal(tip, shadowRef(h, 'refs/heads/checkpoints'));
  const msg = w.gh.gitIn(FULL, ['show', '-s', '--format=%B', tip]).out;
  const record = parseCheckpointMessage(msg.replace(/\n*$/, '\n'));
  assert.equal(record.reason, 'stop');
  assert.equal(record.heads.observed, remoteTip('observed'), 'the stop checkpoint names the pushed head');
  // Nothing local-only left the host.
  const refs = w.gh.gitIn(FULL, ['for-each-ref', '--format=%(refname)']).out.split('\n');
  assert.ok(!refs.some((r) => /secrets|logs-data|config|policy/.test(r)), refs.join(' '));
});

test('a reload restarts the publisher (abandoning a push in flight) only when what it is made of changed', () => {
  const base = { 'review.remote': 'acme/fleet', 'remote.pushDelaySeconds': 5, 'watch.quietMs': 300 };
  const same = publishSettings(base, 'etc');
  // Every `trail config set` reloads trail watch: these leave a healthy push alone.
  assert.equal(publishSettings({ ...base, 'watch.quietMs': 100 }, 'etc'), same);
  assert.equal(publishSettings({ ...base, ignore: '*.bak', 'remote.checkpointSeconds': 60 }, 'etc'), same);
  // These make another publisher.
  for (const changed of [
    { ...base, 'review.remote': 'acme/other' },
    { ...base, 'review.gitUrl': 'https://git.example/acme/fleet.git' },
    { ...base, 'review.tokenFile': '/etc/trail/other-token' },
    { ...base, 'remote.pushDelaySeconds': 1 },
    { ...base, 'remote.alertAfterSeconds': 60 },
    { 'watch.quietMs': 300 },
    { ...base, 'review.apiUrl': 'not a url' },
  ])
    assert.notEqual(publishSettings(changed, 'etc'), same, JSON.stringify(changed));
});
