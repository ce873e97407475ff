// Logs watched from the first second (issue 18): a real daemon, real files, real sed. The
// periodic checkpoint is set to an hour, so whatever is found here was found by following
// the log's own events.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { splitLogPaths } from '../../src/watch/log-follower.js';
import { logOfPath } from '../../src/logs/index.js';
import { Daemon, Fixture, scratch, sleep, waitFor } from './helpers.js';

const tmp = scratch('logfollow');
const hooks: { kind: string; path: string }[] = [];
const server = createServer((req, res) => {
  let b = '';
  req.on('data', (d) => (b += d));
  req.on('end', () => {
    const ev = JSON.parse(b) as { event: string; kind: string; path: string };
    if (ev.event === 'log-integrity') hooks.push({ kind: ev.kind, path: ev.path });
    res.end('ok');
  });
});
let port = 0;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
after(() => {
  server.close();
  tmp.cleanup();
});

async function fixture(name: string, settings: Record<string, string>): Promise<Fixture> {
  const f = new Fixture(join(tmp.dir, name));
  writeFileSync(join(f.work, 'app.conf'), 'level=info\n');
  writeFileSync(join(f.work, 'auth.log'), 'boot\n');
  await f.init({ 'attribute.audit': 'off', 'logs.checkpointSeconds': '3600', ...settings });
  const key = join(f.base, 'hook.key');
  writeFileSync(key, 'k\n', { mode: 0o600 });
  writeFileSync(
    join(f.base, 'policy.yaml'),
    `alert:\n  syslog: false\n  webhook: http://127.0.0.1:${port}/hook\n  webhookSecretFile: ${key}\n`,
  );
  await f.trail(['--name', f.name, 'policy', 'set', join(f.base, 'policy.yaml')]);
  return f;
}

/** Appends a line, waits 2 s, deletes it with sed -i; resolves with the alert and how long it took. */
async function appendThenDelete(f: Fixture, d: Daemon, tag: string): Promise<number> {
  appendFileSync(join(f.work, 'auth.log'), `${tag} sshd[42]: Accepted password for mallory\n`);
  await sleep(2000);
  const from = d.lines.length;
  const t0 = Date.now();
  const sed = spawnSync('sed', ['-i', `/${tag}/d`, join(f.work, 'auth.log')]);
  assert.equal(sed.status, 0, sed.stderr?.toString());
  const alert = await d.waitLog('the log alert', (l) => l.event === 'log-alert', from);
  const ms = Date.parse(alert.time) - t0;
  assert.equal(alert.kind, 'replaced');
  assert.equal(alert.path, 'auth.log');
  assert.match(alert.msg, /auth\.log was replaced by another file outside a rotation/);
  return ms;
}

it('a line appended and deleted with sed -i 2 s later is alerted while the daemon runs, not at a checkpoint', async (t) => {
  const f = await fixture('sed', { 'logs.paths': 'auth.log' });
  const d = new Daemon(f);
  try {
    await d.started();
    const ms = await appendThenDelete(f, d, 'line-one');
    t.diagnostic(`sed -i → alert: ${ms} ms`);
    // Recorded on refs/trail/logs with its alert, and told through the policy's webhook.
    const msg = (await f.git(['log', '-1', '--format=%B', 'refs/trail/logs'])).stdout.toString();
    assert.match(msg, /Trail-Alert: log replaced auth\.log/);
    await waitFor('the webhook alert', () => hooks.some((h) => h.kind === 'replaced' && h.path === 'auth.log'));
    // The verified prefix followed the appends, without a checkpoint: the state says so.
    appendFileSync(join(f.work, 'auth.log'), 'after sshd[43]: session closed\n');
    await waitFor('the appended bytes to be verified', async () => {
      const st = (await f.trail(['--name', f.name, 'logs', 'status', '--json'])).stdout.toString();
      const row = (JSON.parse(st) as { logs: { path: string; verifiedLength: number }[] }).logs[0]!;
      return row.verifiedLength === Buffer.byteLength('boot\nafter sshd[43]: session closed\n');
    });
    // Nothing of the log in the content trail.
    const tree = (await f.git(['ls-tree', '-r', '--name-only', 'refs/heads/observed'])).stdout.toString();
    assert.doesNotMatch(tree, /auth\.log/);
    assert.match(tree, /app\.conf/);
  } finally {
    await d.stop();
  }
});

it('a log configured while the daemon runs is tracked at once and followed', async (t) => {
  const f = await fixture('late', {});
  const d = new Daemon(f);
  try {
    await d.started();
    const set = await f.trail(['--name', f.name, 'config', 'set', 'logs.paths', 'auth.log', '--json']);
    assert.deepEqual(JSON.parse(set.stdout.toString()).logsTakenIn, ['auth.log']);
    const st = JSON.parse((await f.trail(['--name', f.name, 'logs', 'status', '--json'])).stdout.toString());
    assert.deepEqual(
      st.logs.map((l: { path: string; tracked: boolean }) => [l.path, l.tracked]),
      [['auth.log', true]],
    );
    const v = await f.trail(['--name', f.name, 'logs', 'verify'], [0, 11, 12]);
    assert.equal(v.code, 0, v.stdout.toString());
    // No SIGHUP: the daemon follows it from the state the command wrote.
    const ms = await appendThenDelete(f, d, 'line-two');
    t.diagnostic(`sed -i → alert (log configured while running): ${ms} ms`);
  } finally {
    await d.stop();
  }
});

it('touched paths go to the log they belong to; the rest to the event window', () => {
  const tracked = new Set(['auth.log', 'apt/history.log']);
  const isLog = (p: string) => p === 'syslog';
  assert.equal(logOfPath('auth.log', tracked, isLog), 'auth.log');
  assert.equal(logOfPath('auth.log.1', tracked, isLog), 'auth.log');
  assert.equal(logOfPath('apt/history.log.2.gz', tracked, isLog), 'apt/history.log');
  assert.equal(logOfPath('syslog.1', tracked, isLog), 'syslog');
  assert.equal(logOfPath('sedAb12Cd', tracked, isLog), undefined);
  assert.equal(logOfPath('app.conf', tracked, isLog), undefined);
  const { logs, rest } = splitLogPaths(['auth.log', 'auth.log.1', 'app.conf', 'sedAb12Cd', 'syslog'], (p) =>
    logOfPath(p, tracked, isLog),
  );
  assert.deepEqual([...logs].sort(), ['auth.log', 'syslog']);
  assert.deepEqual(rest, ['app.conf', 'sedAb12Cd']);
});
