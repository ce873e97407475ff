// Checks 2–4 against a host's checkpoints: a forged or altered signature, a reused sequence
// number, a daemon silent longer than the limit (seen now, and seen by a run that comes late,
// from GitHub's push times even when the host's clock lies), and kill -9 + a file changed and
// changed back + restart (a start-after-crash window that the disk alone would not show).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sleep } from '../support/wait.js';
import { addHost, addSource, check, push, witness, world } from './helpers.js';

function keypair(dir: string): string {
  const f = join(dir, 'forger_ed25519');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  return f;
}

function byKind(r: { json: { findings: { kind: string }[] } }, kind: string) {
  return r.json.findings.filter((f) => f.kind === kind) as any[];
}

test('checkpoints signed by another key, unsigned, or altered after signing: each one a finding', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  h.checkpoint('start');
  await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  assert.equal((await check(w)).code, 10);

  const forged = h.checkpoint('heartbeat', { keyFile: keypair(w.root) });
  await push(w, h);
  const r1 = await check(w);
  assert.equal(r1.code, 11);
  const s1 = byKind(r1, 'checkpoint-signature');
  assert.equal(s1.length, 1, JSON.stringify(r1.json.findings, null, 1));
  assert.deepEqual(s1[0].commits, [forged]);
  assert.match(s1[0].message, /not the host's pinned key/);

  const unsigned = h.checkpoint('heartbeat', { unsigned: true });
  // Altered after signing: the host's signature over another message.
  const good = h.checkpoint('heartbeat');
  const raw = h.git(['cat-file', 'commit', good]);
  const altered = h.git(['hash-object', '-t', 'commit', '-w', '--stdin'], {
    input: raw.replace('"reason":"heartbeat"', '"reason":"heartbeat" ').replace(/\n$/, '') + '\n',
  });
  h.git(['update-ref', 'refs/heads/checkpoints', altered]);
  await push(w, h);
  const r2 = await check(w);
  const s2 = byKind(r2, 'checkpoint-signature').map((f) => f.commits[0]);
  assert.deepEqual(new Set(s2), new Set([forged, unsigned, altered]), JSON.stringify(r2.json.findings, null, 1));
  // git itself agrees: verify-commit with an allowed_signers file of the pinned key.
  const signers = join(w.root, 'allowed');
  spawnSync('sh', ['-c', 'printf "web1 %s\\n" "$(cat "$1")" > "$2"', 'sh', h.pubFile, signers]);
  for (const [id, ok] of [
    [forged, false],
    [altered, false],
    [good, true],
  ] as const) {
    const v = spawnSync('git', [
      `--git-dir=${h.gitDir}`,
      '-c',
      `gpg.ssh.allowedSignersFile=${signers}`,
      'verify-commit',
      id,
    ]);
    assert.equal(v.status === 0, ok, `git verify-commit ${id}: ${v.stderr}`);
  }
});

test('a reused sequence number is a finding; a gap is a warning', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  h.checkpoint('start');
  h.checkpoint('heartbeat');
  await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  await check(w);
  const replay = h.checkpoint('heartbeat', { seq: 2 });
  const jump = h.checkpoint('heartbeat', { seq: 7 });
  await push(w, h);
  const r = await check(w);
  assert.equal(r.code, 11);
  const seq = byKind(r, 'checkpoint-seq');
  assert.equal(seq.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.equal(seq[0].commits[0], replay);
  assert.match(seq[0].title, /2 → 2/);
  const gap = byKind(r, 'checkpoint-seq-gap');
  assert.equal(gap.length, 1);
  assert.equal(gap[0].commits[0], jump);
  assert.equal(gap[0].severity, 'warning');
});

test('audit configuration changed from a login session: a finding that names who, once', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  const audit = { enabled: 2, lost: 0, backlog: 0, lastSerial: 10, configChanges: 0, configChangedBy: [] };
  h.checkpoint('start', { audit });
  await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  assert.equal(byKind(await check(w), 'audit-config').length, 0);
  // An older daemon's checkpoint says nothing of it: no finding either.
  h.checkpoint('heartbeat', { audit: { enabled: 2, lost: 0, backlog: 0, lastSerial: 11 } });
  const tried = h.checkpoint('heartbeat', { audit: { ...audit, configChanges: 3, configChangedBy: ['alice', 'bob'] } });
  h.checkpoint('heartbeat', { audit });
  await push(w, h);
  const r = await check(w);
  assert.equal(r.code, 11);
  const found = byKind(r, 'audit-config');
  assert.equal(found.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.deepEqual(found[0].commits, [tried]);
  assert.match(found[0].title, /audit configuration was changed from a login session \(3 time\(s\), by alice, bob\)/);
  assert.match(found[0].message, /ask alice, bob why/);
  assert.equal(byKind(await check(w), 'audit-config').length, 1, 'the same finding, not a new one');
});

test('a login uid rewritten, auditd restarted uncounted: findings that say what it means, once each', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  const audit = {
    enabled: 1,
    lost: 0,
    backlog: 0,
    lastSerial: 10,
    configChanges: 0,
    configChangedBy: [],
    loginRewrites: 0,
    auditdRestarts: 0,
  };
  h.checkpoint('start', { audit });
  await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  const clear = await check(w);
  assert.equal(byKind(clear, 'login-rewritten').length + byKind(clear, 'audit-lost').length, 0);
  const posed = h.checkpoint('heartbeat', { audit: { ...audit, loginRewrites: 2 } });
  const restarted = h.checkpoint('heartbeat', { audit: { ...audit, auditdRestarts: 1 } });
  h.checkpoint('heartbeat', { audit });
  await push(w, h);
  const r = await check(w);
  assert.equal(r.code, 11);
  const rewritten = byKind(r, 'login-rewritten');
  assert.equal(rewritten.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.deepEqual(rewritten[0].commits, [posed]);
  assert.match(rewritten[0].title, /rewrote its login uid \(2 time\(s\)\): someone may have posed as another user/);
  const lost = byKind(r, 'audit-lost');
  assert.equal(lost.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.deepEqual(lost[0].commits, [restarted]);
  assert.match(lost[0].title, /auditd was started again \(1 time\(s\)\); records in between were dropped uncounted/);
  const again = await check(w);
  assert.equal(byKind(again, 'login-rewritten').length, 1, 'the same finding, not a new one');
});

test('a daemon silent longer than the limit, then kill -9 + change + change back + restart', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  h.change('root', { sudoers: 'root ALL=(ALL) ALL\n' }, { trailers: { 'Trail-Action': 'init' } });
  h.checkpoint('start');
  await push(w, h);
  await addSource(w, ['--max-silence', '10', '--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  await check(w);
  // Longer than the limit: the next look must call the host silent, whatever the load.
  await sleep(12_000);
  const r1 = await check(w);
  assert.equal(r1.code, 11);
  const silent = byKind(r1, 'silent');
  assert.equal(silent.length, 1, JSON.stringify(r1.json.findings, null, 1));
  assert.equal(silent[0].host, 'web1');
  assert.ok(silent[0].times.lastCheckpointArrivedBy);
  // The daemon was killed: a line added to sudoers and removed again leaves no commit; trail
  // starts again and its first checkpoint names the window nobody watched.
  const crashed = h.checkpoint('start-after-crash');
  await push(w, h);
  const r2 = await check(w);
  assert.deepEqual(r2.json.cleared, [silent[0].id]);
  const win = byKind(r2, 'unwatched-window');
  assert.equal(win.length, 1, JSON.stringify(r2.json.findings, null, 1));
  assert.equal(win[0].commits[0], crashed);
  assert.match(win[0].title, /not watched from .* to /);
  const gap = byKind(r2, 'silence-gap');
  assert.equal(gap.length, 1);
  assert.deepEqual(gap[0].commits, [h.git(['rev-parse', `${crashed}~1`]), crashed]);
  // GitHub's push times are the ground: the activity list gave both arrivals.
  assert.match(gap[0].message, /GitHub's activity/);
  assert.doesNotMatch(gap[0].message, /held it back/, 'written when it was pushed: nothing held back');
});

test('a run that comes late still finds the earlier silence, from GitHub times, though the host clock lies', async (t) => {
  const w = await world(t);
  const h = addHost(w, 'web1');
  await addSource(w, ['--max-silence', '10', '--proof-grace', '86400']);
  await witness(w, ['trust', 'web1', h.pubFile]);
  const t0 = new Date();
  h.checkpoint('start', { time: t0 });
  await push(w, h);
  await sleep(12_000);
  // The host claims its next checkpoints came one second apart.
  h.checkpoint('heartbeat', { time: new Date(t0.getTime() + 1000) });
  await push(w, h);
  h.checkpoint('heartbeat', { time: new Date(t0.getTime() + 2000) });
  await push(w, h);
  // The witness looks only now, for the first time.
  const r = await check(w);
  assert.equal(r.code, 11);
  const gap = byKind(r, 'silence-gap');
  assert.equal(gap.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.match(gap[0].title, /checkpoints 1 → 2/);
  assert.match(gap[0].message, /times from outside the host/);
  assert.match(gap[0].message, /GitHub's activity/);
  // Its own clock says checkpoint 2 was written a second after 1: it reached GitHub 12 s on.
  assert.match(
    gap[0].message,
    /Checkpoint 2 says it was written at .* yet it reached GitHub \d+ ?s later: the host held it back/,
  );
});
