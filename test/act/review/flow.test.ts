import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, OWNER, REPO, SECRET_BYTES, git, shadowRef, world } from './helpers.js';

test(
  'push: the trail reaches GitHub through http-backend with the token in a header; no secret byte, no refs/trail/*, no token anywhere',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1', { madeOnce: true });
    writeFileSync(join(h.dir, 'shadow'), SECRET_BYTES.replace('19000', '19001'));
    assert.equal((await h.run(['snapshot'])).code, 0);
    const push = await h.run(['push', '--json']);
    assert.equal(push.code, 0, push.stderr);
    const refs = w.gh.gitIn(FULL, ['for-each-ref', '--format=%(refname)']).out.split('\n').sort();
    assert.deepEqual(refs, [`refs/heads/${h.prefix}/approved`, `refs/heads/${h.prefix}/observed`]);
    assert.equal(w.gh.ref(FULL, `${h.prefix}/observed`), shadowRef(h, 'refs/heads/observed'));
    // Every object GitHub holds, content and all: no secret byte (either version of the shadow file).
    const all = w.gh.gitIn(FULL, ['cat-file', '--batch-all-objects', '--batch', '--unordered']);
    assert.ok(all.out.length > 0);
    const objects = w.gh.gitIn(FULL, ['cat-file', '--batch-all-objects', '--batch-check']).out.split('\n').length;
    assert.ok(objects >= 6, `only ${objects} objects`);
    for (const needle of ['SECRET-HASH-do-not-leak', '$6$'])
      assert.ok(!all.out.includes(needle), `secret bytes (${needle}) reached GitHub`);
    // The secret's placeholder is there instead: the change is visible.
    assert.match(
      w.gh.gitIn(FULL, ['cat-file', 'blob', `refs/heads/${h.prefix}/observed:shadow`]).out,
      /hmac-sha256|trail/i,
    );
    // git authenticated every request; the token never shows in the output or the URLs.
    assert.ok(w.gh.gitRequests.length > 0 && w.gh.gitRequests.every((r) => r.user === 'trail-bot'));
    for (const text of [push.stdout, push.stderr]) assert.ok(!text.includes(w.bot.token));
    // A second push is a no-op.
    const again = await h.run(['push', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(
      again.json.refs.every((r: { status: string }) => r.status === 'up to date'),
      JSON.stringify(again.json),
    );
    (void OWNER, REPO);
  },
);

test(
  'open → approve → merge: a review rule opens one PR per episode (updated, not duplicated); the merge is accepted and commented',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1', { madeOnce: true });
    writeFileSync(join(h.dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.5 db\n');
    const snap = await h.run(['snapshot', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    assert.equal(snap.json.policy.review.number, 1, JSON.stringify(snap.json.policy));
    assert.equal(snap.json.policy.review.created, true);
    assert.deepEqual(snap.json.policy.alerts, [], 'a PR replaces the alert');
    const alice = w.as(w.alice);
    let pr = (await alice.rest.pulls.get({ owner: OWNER, repo: REPO, pull_number: 1 })).data;
    assert.equal(pr.base.ref, `${h.prefix}/approved`);
    assert.match(pr.title, /^web1:etc: hosts by /);
    assert.match(pr.body ?? '', /M hosts/);
    assert.match(pr.body ?? '', /config-review/);
    assert.ok(!(pr.body ?? '').includes('SECRET-HASH'));
    // More changes before a decision: the same PR, with the new head and title.
    writeFileSync(join(h.dir, 'nginx', 'nginx.conf'), 'worker_processes 4;\n');
    writeFileSync(join(h.dir, 'shadow'), SECRET_BYTES.replace('19000', '19002'));
    const snap2 = await h.run(['snapshot', '--json']);
    assert.equal(snap2.code, 0, snap2.stderr);
    assert.equal(snap2.json.policy.review.number, 1);
    assert.equal(snap2.json.policy.review.created, false);
    const open = (await alice.rest.pulls.list({ owner: OWNER, repo: REPO, state: 'all' })).data;
    assert.equal(open.length, 1, 'one PR per episode');
    pr = (await alice.rest.pulls.get({ owner: OWNER, repo: REPO, pull_number: 1 })).data;
    assert.equal(pr.head.sha, shadowRef(h, 'refs/heads/observed'));
    assert.match(pr.title, /hosts, nginx\/nginx.conf/);
    const status = await h.run(['review', 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      status.json.open.map((p: { number: number }) => p.number),
      [1],
    );
    // Approve and merge as people do; then the host syncs.
    await alice.rest.pulls.createReview({ owner: OWNER, repo: REPO, pull_number: 1, event: 'APPROVE' });
    const merged = (await alice.rest.pulls.merge({ owner: OWNER, repo: REPO, pull_number: 1 })).data;
    const sync = await h.run(['review', 'sync', '--json']);
    assert.equal(sync.code, 0, sync.stderr);
    assert.deepEqual(
      sync.json.actions.filter((a: { kind: string }) => a.kind === 'accepted').map((a: { pr: number }) => a.pr),
      [1],
      JSON.stringify(sync.json),
    );
    assert.equal(shadowRef(h, 'refs/heads/approved'), merged.sha, 'approved advanced to the merge commit');
    assert.equal((await h.run(['drift'])).code, 0, 'no drift left');
    assert.equal(
      readFileSync(join(h.dir, 'hosts'), 'utf8'),
      '127.0.0.1 localhost\n10.0.0.5 db\n',
      'the host kept its changes',
    );
    const comments = (await alice.rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 })).data;
    assert.equal(comments.length, 1);
    assert.match(comments[0]!.body ?? '', /Accepted on web1/);
    assert.equal(comments[0]!.user?.login, 'trail-bot');
    // A second sync does nothing more.
    const again = await h.run(['review', 'sync', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      again.json.actions.filter((a: { kind: string }) => a.kind !== 'pushed'),
      [],
    );
    void git;
  },
);

test(
  "a merge without the required approvals is refused: approved stays, GitHub's branch is put back, the PR says why",
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    // The host the other tests use, and one setting more (set as a user would, not built anew).
    const h = await w.addHost('web1', { madeOnce: true });
    const only = await h.run(['config', 'set', 'review.reviewers', 'bob']);
    assert.equal(only.code, 0, only.stderr);
    writeFileSync(join(h.dir, 'hosts'), 'changed\n');
    assert.equal((await h.run(['snapshot'])).code, 0);
    const before = shadowRef(h, 'refs/heads/approved');
    const alice = w.as(w.alice);
    // alice is not an allowed reviewer; trail's own account can never approve its own PR.
    await alice.rest.pulls.createReview({ owner: OWNER, repo: REPO, pull_number: 1, event: 'APPROVE' });
    await assert.rejects(
      w.as(w.bot).rest.pulls.createReview({ owner: OWNER, repo: REPO, pull_number: 1, event: 'APPROVE' }),
      /own pull request/,
    );
    await alice.rest.pulls.merge({ owner: OWNER, repo: REPO, pull_number: 1 });
    const sync = await h.run(['review', 'sync', '--json']);
    assert.equal(sync.code, 0, sync.stderr);
    const refused = sync.json.actions.filter((a: { kind: string }) => a.kind === 'refused');
    assert.equal(refused.length, 1, JSON.stringify(sync.json));
    assert.match(refused[0].message, /0 of 1 required approval/);
    assert.equal(shadowRef(h, 'refs/heads/approved'), before);
    assert.equal(w.gh.ref(FULL, `${h.prefix}/approved`), before, "GitHub's approved branch was put back");
    const comments = (await alice.rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 })).data;
    assert.match(comments.at(-1)!.body ?? '', /Not applied on web1/);
    // The drift is still there and gets a new PR.
    const open = await h.run(['review', 'open', '--json']);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(open.json.pullRequest.number, 2);
  },
);
