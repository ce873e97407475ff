// What the trail says about itself reaches `trail report` in words a reader acts on: changes
// made while nothing watched, authors hidden by a rewritten login uid, a log altered, an
// unclean stop and audit rules changed (from the checkpoints) — gravest first, above the
// routine changes, each with what it means and what to do, the trailers one click away. The
// commits are written with git itself (commit-tree), as trail watch writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, initTrail, git } from '../support/cli.js';

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const RLO = '\u202e';

function commit(repo: string, ref: string, author: string, message: string): string {
  const parent = git(repo, ['rev-parse', '--verify', '--quiet', ref]).stdout.toString().trim();
  const tree = parent ? `${parent}^{tree}` : EMPTY_TREE;
  const r = spawnSync('git', ['--git-dir', repo, 'commit-tree', tree, ...(parent ? ['-p', parent] : [])], {
    input: message,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: author,
      GIT_AUTHOR_EMAIL: `${author}@host`,
      GIT_COMMITTER_NAME: 'trail',
      GIT_COMMITTER_EMAIL: 'trail@host',
    },
  });
  assert.equal(r.status, 0, r.stderr.toString());
  const id = r.stdout.toString().trim();
  assert.equal(git(repo, ['update-ref', ref, id]).code, 0);
  return id;
}

async function setup(t: { after(fn: () => void): void }) {
  const { tmp, home, repo } = await initTrail(t, { hosts: '127.0.0.1 localhost\n' });
  const obs = 'refs/heads/observed';
  commit(repo, obs, 'alice', 'changed: motd\n\nTrail-Action: watch\nTrail-Login: alice\n');
  commit(
    repo,
    obs,
    'unknown',
    'changed while not watching: hosts\n\nTrail-Action: watch-gap\nTrail-Actor: unknown (seen by trail watch)\n' +
      'Trail-Unwatched-Since: 2026-01-01T10:00:00+00:00\nTrail-Unwatched-Until: 2026-01-01T12:00:00.000Z\n',
  );
  const rewritten = commit(
    repo,
    obs,
    'unknown',
    'changed: sudoers\n\nTrail-Action: watch\nTrail-Actor: unknown (login uid rewritten: the login uid of session 57 was set to alice (auid 1002) by pid 4242 (/usr/bin/dash), whose login uid was root (auid 0))\n',
  );
  commit(
    repo,
    obs,
    'unknown',
    'changed: fstab\n\nTrail-Action: watch\nTrail-Actor: unknown (no audit record names these paths (changed through a descriptor opened before trail watched, a bind mount, or by the kernel))\n',
  );
  commit(repo, obs, 'bob', 'changed: issue\n\nTrail-Action: watch\nTrail-Login: bob\n');
  commit(
    repo,
    'refs/trail/logs',
    'trail',
    'logs: 1 integrity alert(s): /var/log/auth.log truncated\n\nTrail-Action: logs\nTrail-Alert: log truncated /var/log/auth.log\nTrail-Actor: unknown (log tampering is found after the fact)\n',
  );
  const now = new Date().toISOString();
  const record = {
    v: 1,
    host: 'web1',
    name: 'etc',
    seq: 7,
    reason: 'start-after-crash',
    time: now,
    boot: 'b',
    daemonStart: now,
    interval: 300,
    heads: { observed: null, approved: null, logs: null, access: null, proofs: null },
    audit: {
      enabled: 1,
      lost: 0,
      backlog: 0,
      lastSerial: 1,
      configChanges: 2,
      configChangedBy: [`mallory${RLO}toor`],
      loginRewrites: 0,
      auditdRestarts: 0,
    },
    previous: { seq: 6, time: '2026-01-01T09:00:00.000Z', boot: 'b', reason: 'heartbeat' },
    window: { from: '2026-01-01T09:00:00.000Z', to: now, bootChanged: false, auditLostDelta: 0 },
  };
  commit(
    repo,
    'refs/heads/checkpoints',
    'trail',
    `trail checkpoint 7: start-after-crash\n\n${JSON.stringify(record)}\n`,
  );
  return { tmp, home, rewritten };
}

test('the report says what the trail could not see or was kept from seeing, gravest first', async (t) => {
  const { home, tmp, rewritten } = await setup(t);
  const j = await trail(home, ['report', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const kinds = (j.json.trust as { kind: string; severity: string }[]).map((x) => `${x.severity} ${x.kind}`);
  assert.deepEqual(kinds, [
    'critical login-rewritten',
    'critical log-tampered',
    'high audit-config',
    'high watch-crashed',
    'high unwatched',
    'notice unattributed',
  ]);
  assert.deepEqual(j.json.headline.trust, { critical: 2, high: 3, notice: 1 });
  const lr = j.json.trust[0];
  assert.deepEqual(lr.changes, [rewritten]);
  assert.match(lr.details[0], /session 57 .* pid 4242/);

  const file = join(tmp, 'r.html');
  assert.equal((await trail(home, ['report', '-o', file])).code, 0);
  const html = readFileSync(file, 'utf8');
  // Above the routine: the section comes before the chart and the table of changes.
  const at = html.indexOf('Can this record be trusted?');
  assert.ok(at > 0 && at < html.indexOf('Changes per day') && at < html.indexOf('Every change'));
  assert.match(html, /data-k="trust">5</);
  assert.match(html, /Someone may have posed as another user/);
  assert.match(html, /What to do:<\/b> Find out who had root on the host at that time/);
  assert.match(html, /A log was altered after it was written/);
  // The row of an unknown change says why.
  assert.match(html, /<b>unknown<\/b><div class="muted">unknown \(login uid rewritten: /);
  // A login name from the host cannot turn the text around it.
  assert.ok(!html.includes(RLO), 'no bidi override reaches the page');
  assert.match(html, /mallory\\u202etoor/);

  const md = await trail(home, ['report', '--format', 'md']);
  assert.equal(md.code, 0, md.stderr);
  assert.match(md.stdout, /- \*\*5\*\* signs of tampering or blind spots/);
  assert.match(
    md.stdout,
    /### Can this record be trusted\?\n\n- \*\*Critical: Someone may have posed as another user\.\*\*/,
  );
  assert.ok(md.stdout.indexOf('Can this record be trusted?') < md.stdout.indexOf('### Changes'));
  assert.ok(!md.stdout.includes(RLO));
});

test('a trail with nothing to say about itself says so, and no more', async (t) => {
  const { home } = await initTrail(t, { hosts: 'x\n' });
  const j = await trail(home, ['report', '--json']);
  assert.deepEqual(j.json.trust, []);
  const md = await trail(home, ['report', '--format', 'md']);
  assert.match(md.stdout, /Nothing in this trail says it was blinded or interfered with/);
});
