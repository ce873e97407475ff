import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OWNER, REPO, world } from './helpers.js';
import { checkSamples, loadSpec, responseSchema, validate } from './openapi-check.js';

test(
  "the local GitHub answers in the shapes of GitHub's OpenAPI description (@octokit/openapi), for every endpoint trail uses",
  { timeout: 300_000 },
  async (t) => {
    const spec = loadSpec();
    const w = await world(t);
    const h = await w.addHost('web1');
    writeFileSync(join(h.dir, 'hosts'), 'changed\n');
    assert.equal((await h.run(['snapshot'])).code, 0);
    assert.equal((await h.run(['review', 'open'])).code, 0);
    const alice = w.as(w.alice);
    await alice.rest.pulls.createReview({ owner: OWNER, repo: REPO, pull_number: 1, event: 'APPROVE' });
    await alice.rest.pulls.merge({ owner: OWNER, repo: REPO, pull_number: 1 });
    assert.equal((await h.run(['review', 'sync'])).code, 0);
    await alice.rest.issues.get({ owner: OWNER, repo: REPO, issue_number: 1 });
    await alice.rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 });
    await alice.rest.git.getRef({ owner: OWNER, repo: REPO, ref: `heads/${h.prefix}/approved` });
    await alice.rest.repos.get({ owner: OWNER, repo: REPO });
    await alice.rest.users.getAuthenticated();
    const used = [...w.gh.samples.keys()].sort();
    for (const k of [
      'GET /user 200',
      'GET /repos/{owner}/{repo}/pulls 200',
      'POST /repos/{owner}/{repo}/pulls 201',
      'GET /repos/{owner}/{repo}/pulls/{pull_number} 200',
      'PATCH /repos/{owner}/{repo}/pulls/{pull_number} 200',
      'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200',
      'POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200',
      'PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 200',
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201',
      'GET /repos/{owner}/{repo}/issues/{issue_number} 200',
      'GET /repos/{owner}/{repo}/git/ref/{ref} 200',
      'GET /repos/{owner}/{repo} 200',
    ]) {
      assert.ok(used.includes(k), `not exercised: ${k} (have ${used.join(', ')})`);
    }
    const problems = checkSamples(spec, w.gh.samples);
    assert.deepEqual(problems, []);
    // The check itself can fail: a pull request without its number, a user with a numeric login.
    const pr = structuredClone(w.gh.samples.get('GET /repos/{owner}/{repo}/pulls/{pull_number} 200')) as Record<
      string,
      any
    >;
    delete pr.number;
    pr.user.login = 42;
    const errs: string[] = [];
    validate(
      spec,
      responseSchema(spec, 'GET', '/repos/{owner}/{repo}/pulls/{pull_number}', '200')!,
      pr,
      'broken',
      errs,
    );
    assert.ok(
      errs.some((e) => /missing required "number"/.test(e)) && errs.some((e) => /user\.login: integer/.test(e)),
      errs.join('\n'),
    );
  },
);
