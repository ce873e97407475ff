import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OWNER, REPO, world } from './helpers.js';

test(
  'GitHub API errors: 401, 403 rate limit with Retry-After, 422, 5xx → clear messages, retries, and no decision lost',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1', { madeOnce: true });
    writeFileSync(join(h.dir, 'hosts'), 'changed\n');
    assert.equal((await h.run(['snapshot', '--json'])).code, 0);

    // 401: a bad token is said plainly, and never printed.
    const bad = await h.run(['review', 'status'], { GITHUB_TOKEN: 'ghp_not-a-real-token-123' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /GitHub refused the token .*401/);
    assert.ok(!bad.stderr.includes('ghp_not-a-real-token-123'));

    // 403 rate limit with Retry-After, then 5xx twice: waited for and retried.
    w.gh.fail('GET', /^\/repos\/acme\/fleet\/pulls$/, 403, {
      headers: { 'retry-after': '1', 'x-ratelimit-remaining': '0' },
      body: { message: 'API rate limit exceeded' },
    });
    w.gh.fail('GET', /^\/repos\/acme\/fleet\/pulls$/, 502, { times: 2 });
    const st = await h.run(['review', 'status', '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json.open.length, 1);
    const tries = w.gh.requests.filter((r) => r.method === 'GET' && r.path === '/repos/acme/fleet/pulls');
    assert.deepEqual(
      tries.slice(-4).map((r) => r.status),
      [403, 502, 502, 200],
    );

    // A rate limit longer than trail waits: a clear message.
    w.gh.fail('GET', /^\/repos\/acme\/fleet\/pulls$/, 403, {
      headers: { 'retry-after': '3600' },
      body: { message: 'You have exceeded a secondary rate limit' },
    });
    const long = await h.run(['review', 'status']);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /rate limit .*retry after 3600 s/);

    // 422: what GitHub objected to.
    w.gh.fail('PATCH', /^\/repos\/acme\/fleet\/pulls\/1$/, 422, {
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'custom', message: 'title is too long' }],
      },
    });
    writeFileSync(join(h.dir, 'hosts'), 'changed again\n');
    const snap = await h.run(['snapshot', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    assert.match(
      snap.json.policy.review.error,
      /GitHub rejected update pull request #1 \(422\): Validation Failed; title is too long/,
    );
    assert.equal(snap.json.policy.alerts.length, 1, 'the review rule alerted instead');

    // The PR is closed on GitHub while GitHub then fails: the sync fails clearly, and the next
    // one still reverts — the decision is not lost.
    await w.as(w.alice).rest.pulls.update({ owner: OWNER, repo: REPO, pull_number: 1, state: 'closed' });
    w.gh.fail('GET', /^\/repos\/acme\/fleet\/pulls\/1$/, 500, { times: 10 });
    const failed = await h.run(['review', 'sync']);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /GitHub did not answer while trying to read pull request #1 \(500.*after 4 attempts/);
    assert.equal(readFileSync(join(h.dir, 'hosts'), 'utf8'), 'changed again\n');
    w.gh.faults.length = 0;
    // Commenting fails once: the revert happens, the comment is kept and posted by the next sync.
    w.gh.fail('POST', /^\/repos\/acme\/fleet\/issues\/1\/comments$/, 503, { times: 4 });
    const ok = await h.run(['review', 'sync', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readFileSync(join(h.dir, 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
    assert.equal(
      (await w.as(w.alice).rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 })).data.length,
      0,
    );
    const later = await h.run(['review', 'sync', '--json']);
    assert.equal(later.code, 0, later.stderr);
    const comments = (await w.as(w.alice).rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 })).data;
    assert.equal(comments.length, 1);
    assert.match(comments[0]!.body ?? '', /Reverted on web1/);
    // The REST server never saw the token in a URL, and every call was authenticated by header.
    assert.ok(w.gh.requests.every((r) => !r.path.includes(w.bot.token)));
  },
);

test(
  'token file: used when GITHUB_TOKEN is unset; refused when others can read it',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1', { madeOnce: true });
    const file = join(w.tmp, 'token');
    writeFileSync(file, w.bot.token + '\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    assert.equal((await h.run(['config', 'set', 'review.tokenFile', file])).code, 0);
    const wide = await h.run(['push'], { GITHUB_TOKEN: '' });
    assert.equal(wide.code, 1);
    assert.match(wide.stderr, /refusing the token file .*mode 644/);
    chmodSync(file, 0o600);
    const ok = await h.run(['push', '--json'], { GITHUB_TOKEN: '' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!ok.stdout.includes(w.bot.token) && !ok.stderr.includes(w.bot.token));
    // URLs with credentials are refused: they end up in messages and logs.
    const withCreds = await h.run([
      'remote',
      'set',
      'github',
      'acme/fleet',
      '--git-url',
      `https://x:${w.bot.token}@github.example/acme/fleet.git`,
    ]);
    assert.equal(withCreds.code, 2);
    assert.ok(!withCreds.stderr.includes(w.bot.token));
  },
);
