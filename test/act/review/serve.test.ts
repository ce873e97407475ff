import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../../support/cli.js';
import { postJson } from '../../support/github-server.js';
import { OWNER, REPO, git, until, world } from './helpers.js';

const SECRET = 'webhook-secret-for-tests-5c1e';

function sign(body: string, secret = SECRET): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

test(
  'trail serve: a PR closed on GitHub reverts the host (webhook with a real HMAC); replayed, forged, malformed and unsigned deliveries are refused',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1');
    const secretFile = join(w.tmp, 'webhook-secret');
    writeFileSync(secretFile, SECRET + '\n', { mode: 0o644 });
    assert.equal((await h.run(['config', 'set', 'review.webhookSecretFile', secretFile])).code, 0);
    // A secret others can read is refused.
    const wide = await h.run(['serve', '--listen', '127.0.0.1:0', '--poll', '0']);
    assert.equal(wide.code, 1);
    assert.match(wide.stderr, /mode 644 lets others read it/);
    const { chmodSync } = await import('node:fs');
    chmodSync(secretFile, 0o600);

    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--poll', '0'], {
      env: { ...process.env, TRAIL_HOME: h.home, GITHUB_TOKEN: w.bot.token, TRAIL_GITHUB_BACKOFF_MS: '50' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGTERM');
    });
    const url = await until('trail serve to listen', () => /listening on (http:\/\/\S+)/.exec(out)?.[1]);
    w.gh.hooks.push({ url, secret: SECRET });

    writeFileSync(join(h.dir, 'hosts'), '10.9.9.9 rogue\n');
    const snap = await h.run(['snapshot', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    const number = snap.json.policy.review.number as number;
    await w.as(w.alice).rest.pulls.update({ owner: OWNER, repo: REPO, pull_number: number, state: 'closed' });
    await until(
      'the host to be reverted',
      () => readFileSync(join(h.dir, 'hosts'), 'utf8') === '127.0.0.1 localhost\n',
      90_000,
    );
    const comments = await until('the revert comment', async () => {
      const c = (await w.as(w.alice).rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: number })).data;
      return c.length ? c : undefined;
    });
    assert.match(comments[0]!.body ?? '', /Reverted on web1/);
    const log = git(h.repo, [
      'log',
      '--format=%an|%s|%(trailers:key=Trail-Review,valueonly)',
      'refs/heads/observed',
    ]).stdout.toString();
    assert.match(
      log,
      /alice\|review: pull request #1 closed by alice on GitHub; reverted hosts to approved\|rejected: PR #1 closed by alice/,
    );
    const closed = w.gh.deliveries.find((d) => d.event === 'pull_request' && JSON.parse(d.body).action === 'closed')!;
    assert.equal(closed.status, 202);

    // Replay of a genuine delivery.
    assert.equal(
      await postJson(url, closed.body, {
        'x-github-event': 'pull_request',
        'x-github-delivery': closed.id,
        'x-hub-signature-256': closed.signature,
      }),
      409,
    );
    // Forged: a body changed after signing, a signature with another secret, none at all.
    const forgedBody = closed.body.replace('"closed"', '"reopened"');
    assert.equal(
      await postJson(url, forgedBody, {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': closed.signature,
      }),
      401,
    );
    assert.equal(
      await postJson(url, closed.body, {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign(closed.body, 'wrong'),
      }),
      401,
    );
    assert.equal(
      await postJson(url, closed.body, { 'x-github-event': 'pull_request', 'x-github-delivery': randomUUID() }),
      401,
    );
    assert.equal(
      await postJson(url, closed.body, {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': 'sha256=' + '0'.repeat(64),
      }),
      401,
    );
    // Malformed JSON, correctly signed; missing delivery id; form encoding; GET.
    const bad = '{"action": "closed", ';
    assert.equal(
      await postJson(url, bad, {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign(bad),
      }),
      400,
    );
    assert.equal(
      await postJson(url, closed.body, { 'x-github-event': 'pull_request', 'x-hub-signature-256': closed.signature }),
      400,
    );
    assert.equal(
      await postJson(url, 'payload=%7B%7D', {
        'content-type': 'application/x-www-form-urlencoded',
        'x-github-event': 'ping',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign('payload=%7B%7D'),
      }),
      415,
    );
    const get = await fetch(url);
    assert.equal(get.status, 405);
    // A valid ping is fine; an event for another host's branch changes nothing.
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.' });
    assert.equal(
      await postJson(url, ping, {
        'x-github-event': 'ping',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign(ping),
      }),
      200,
    );
    const other = JSON.stringify({
      action: 'closed',
      pull_request: { number: 99, base: { ref: 'trail/web2/etc/approved' } },
    });
    assert.equal(
      await postJson(url, other, {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign(other),
      }),
      202,
    );
    assert.ok(!out.includes(w.bot.token) && !err.includes(w.bot.token) && !err.includes(SECRET));
    assert.match(err, /refused a replay/);
    child.kill('SIGTERM');
    await until('trail serve to stop', () => child.exitCode !== null || undefined);
    assert.equal(child.exitCode, 0, err);
  },
);
