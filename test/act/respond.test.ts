import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { trail, tempDir, git } from '../support/cli.js';

async function setup(t: { after(fn: () => void): void }, policy: string) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(join(dir, 'ssh'), { recursive: true });
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(dir, 'ssh', 'sshd_config'), 0o600);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  // Hooks: a script that saves the event it gets on stdin.
  mkdirSync(join(home, 'hooks'), { recursive: true });
  const seen = join(tmp.path, 'events');
  mkdirSync(seen);
  writeFileSync(join(home, 'hooks', 'save'), `#!/bin/sh\ncat > "${seen}/$(date +%s%N).json"\n`, { mode: 0o755 });
  writeFileSync(join(tmp.path, 'policy.yaml'), policy);
  const set = await trail(home, ['policy', 'set', join(tmp.path, 'policy.yaml'), '--json']);
  assert.equal(set.code, 0, set.stderr);
  return { tmp: tmp.path, home, dir, repo: init.json.repo as string, seen };
}

test('protect: an edit of a protected file is recorded, put back byte- and mode-exact, and the restore recorded', async (t) => {
  const { home, dir, repo, seen } = await setup(
    t,
    [
      'rules:',
      '  - paths: [ssh/sshd_config]',
      '    action: protect',
      '    hook: save',
      'alert:',
      '  syslog: false',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
  chmodSync(join(dir, 'ssh', 'sshd_config'), 0o666);
  writeFileSync(join(dir, 'hosts'), 'not protected\n');
  const snap = await trail(home, ['snapshot', '--json']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.deepEqual(snap.json.policy.restored, ['ssh/sshd_config']);
  assert.equal(readFileSync(join(dir, 'ssh', 'sshd_config'), 'utf8'), 'PermitRootLogin no\n');
  assert.equal(statSync(join(dir, 'ssh', 'sshd_config')).mode & 0o7777, 0o600);
  assert.equal(readFileSync(join(dir, 'hosts'), 'utf8'), 'not protected\n', 'unprotected paths stay as they are');
  // Both the attempt and the restoration are in the trail.
  const log = git(repo, ['log', '--format=%an|%s|%(trailers:key=Trail-Policy,valueonly)', '-2', 'refs/heads/observed'])
    .stdout.toString()
    .trim()
    .split('\n')
    .filter(Boolean);
  assert.match(log[0]!, /^trail\|protect: restored ssh\/sshd_config to approved\|protect \(rule 1\)/);
  assert.match(log[1]!, /^root\|snapshot by root\|/);
  assert.equal(
    git(repo, ['cat-file', 'blob', 'refs/heads/observed~1:ssh/sshd_config']).stdout.toString(),
    'PermitRootLogin yes\n',
  );
  // The hook got the event on stdin.
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(seen);
  assert.equal(files.length, 1);
  const ev = JSON.parse(readFileSync(join(seen, files[0]!), 'utf8'));
  assert.equal(ev.event, 'protect');
  assert.equal(ev.commit, snap.json.commit);
  assert.deepEqual(
    ev.changes.map((c: { path: string }) => c.path),
    ['ssh/sshd_config'],
  );
  assert.deepEqual(ev.restored, ['ssh/sshd_config']);
  // The restore commit does not trigger the rules again.
  assert.equal((await trail(home, ['status'])).code, 0);
});

test('protect gives up on a path another writer keeps rewriting, and alerts instead', async (t) => {
  const { home, dir } = await setup(
    t,
    [
      'rules:',
      '  - paths: [hosts]',
      '    action: protect',
      'protect:',
      '  maxRestores: 2',
      '  windowSeconds: 600',
      'alert:',
      '  syslog: false',
    ].join('\n'),
  );
  const restored: string[][] = [];
  for (let i = 0; i < 4; i++) {
    writeFileSync(join(dir, 'hosts'), `fight ${i}\n`);
    const snap = await trail(home, ['snapshot', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    restored.push(snap.json.policy.restored);
    if (i >= 2) assert.deepEqual(snap.json.policy.gaveUp, ['hosts']);
  }
  assert.deepEqual(restored, [['hosts'], ['hosts'], [], []]);
  assert.equal(
    readFileSync(join(dir, 'hosts'), 'utf8'),
    'fight 3\n',
    "after the limit the other writer's version stays (and is alerted)",
  );
});

test('a hostile file name reaches a hook intact (base64) and harmless (escaped)', async (t) => {
  const { home, dir, seen, tmp } = await setup(
    t,
    ['rules:', '  - paths: ["**"]', '    action: run', '    hook: save'].join('\n'),
  );
  const evil = Buffer.concat([
    Buffer.from('$(touch pwned)\n\x1b[31m;rm -rf x'),
    Buffer.from([0xff]),
    Buffer.from('.conf'),
  ]);
  writeFileSync(Buffer.concat([Buffer.from(dir + '/'), evil]), 'x');
  const snap = await trail(home, ['snapshot', '--json']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.deepEqual(
    snap.json.policy.hooks.map((h: { ok: boolean }) => h.ok),
    [true],
    JSON.stringify(snap.json.policy),
  );
  const { readdirSync } = await import('node:fs');
  const ev = JSON.parse(readFileSync(join(seen, readdirSync(seen)[0]!), 'utf8'));
  assert.equal(Buffer.from(ev.changes[0].pathBase64, 'base64').equals(evil), true);
  assert.doesNotMatch(ev.changes[0].path, /[\x00-\x1f]/);
  assert.equal(existsSync(join(tmp, 'pwned')) || existsSync('/pwned'), false);
});

test('alert: webhook body signed with HMAC-SHA256; a failing hook is reported, not fatal', async (t) => {
  const got: { body: string; sig: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ body, sig: String(req.headers['x-trail-signature-256']) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const key = join(tmp.path, 'key');
  writeFileSync(key, 's3cret\n', { mode: 0o600 });
  const { home, dir } = await setup(
    t,
    [
      'rules:',
      '  - paths: [hosts]',
      '    action: alert',
      '    hook: broken',
      'alert:',
      '  syslog: false',
      `  webhook: http://127.0.0.1:${port}/hook`,
      `  webhookSecretFile: ${key}`,
    ].join('\n'),
  );
  writeFileSync(join(home, 'hooks', 'broken'), '#!/bin/sh\necho boom >&2\nexit 3\n', { mode: 0o755 });
  writeFileSync(join(dir, 'hosts'), 'changed\n');
  const snap = await trail(home, ['snapshot', '--json']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.sig, 'sha256=' + createHmac('sha256', 's3cret').update(got[0]!.body).digest('hex'));
  assert.equal(JSON.parse(got[0]!.body).changes[0].path, 'hosts');
  assert.equal(snap.json.policy.hooks[0].ok, false);
  assert.equal(snap.json.policy.hooks[0].problem, 'exit code 3');
  assert.match(snap.stderr, /hook broken failed: exit code 3 \(boom\)/);
});

test('protect that cannot put a path back says so: not "restored", but COULD NOT RESTORE with why', async (t) => {
  const { home, dir, seen } = await setup(
    t,
    ['rules:', '  - paths: [hosts]', '    action: protect', '    hook: save', 'alert:', '  syslog: false'].join('\n'),
  );
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, '10.6.6.6 bank.example\n');
  // Made immutable after the edit (chattr +i): nothing can put it back, not even root.
  const { spawnSync } = await import('node:child_process');
  const ci = spawnSync('chattr', ['+i', hosts], { encoding: 'utf8' });
  if (ci.status !== 0) return t.skip(`chattr +i is not available here: ${ci.stderr || ci.error?.message}`);
  // (Taken off in the test itself: the temp dir's own clean-up runs first among the afters.)
  let snap;
  try {
    snap = await trail(home, ['snapshot', '--json']);
  } finally {
    spawnSync('chattr', ['-i', hosts]);
  }
  assert.equal(snap.code, 0, snap.stderr);
  assert.deepEqual(snap.json.policy.restored, []);
  assert.match(JSON.stringify(snap.json.policy.notRestored), /hosts: .*EPERM|hosts: .*not permitted/);
  assert.match(snap.json.policy.alerts[0].summary, /COULD NOT RESTORE hosts/);
  assert.doesNotMatch(snap.json.policy.alerts[0].summary, /restored to approved/);
  assert.equal(readFileSync(hosts, 'utf8'), '10.6.6.6 bank.example\n');
  const { readdirSync } = await import('node:fs');
  const ev = readdirSync(seen)
    .map((f) => JSON.parse(readFileSync(join(seen, f), 'utf8')))
    .find((e) => e.event === 'protect');
  assert.ok(ev, 'the hook got the protect event');
  assert.deepEqual(ev.restored, []);
  assert.ok(ev.notRestored?.length, JSON.stringify(ev));
});

test('tampering swept into an unrelated revert is acted on by the policy: protect restores it', async (t) => {
  const { home, dir, repo } = await setup(
    t,
    ['rules:', '  - paths: [hosts]', '    action: protect', 'alert:', '  syslog: false'].join('\n'),
  );
  const approved = git(repo, ['rev-parse', 'refs/heads/approved']).stdout.toString().trim();
  writeFileSync(join(dir, 'hosts'), '10.6.6.6 bank.example\n');
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
  // No snapshot in between: the revert's own look at the disk finds the tampering.
  const r = await trail(home, ['revert', approved, 'ssh/sshd_config', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'ssh', 'sshd_config'), 'utf8'), 'PermitRootLogin no\n');
  assert.equal(
    readFileSync(join(dir, 'hosts'), 'utf8'),
    '127.0.0.1 localhost\n',
    'the protected file was left tampered',
  );
  const log = git(repo, ['log', '--format=%s', '-4', 'refs/heads/observed']).stdout.toString();
  assert.match(log, /protect: restored hosts to approved/);
  assert.match(log, /changes found before a revert/);
});
