// `trail witness check --open-issues` against the GitHub stand-in's Issues endpoints: one
// issue per finding (red), found again by its hidden marker so never two; closed with a
// comment when the finding clears or is acknowledged, reopened when it comes back; a token
// that may not write issues changes nothing about the check itself. Every response and every
// request body is checked against GitHub's OpenAPI description at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRequests, checkSamples, loadSpec } from '../act/review/openapi-check.js';
import { addHost, addSource, proveAll, push, witness, world, type World } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';
import { issueBody, markerOf } from '../../src/witness/issue-opener.js';
import type { Finding } from '../../src/witness/findings.js';

const { cal, esplora } = anchorStubs();

const WITNESS_REPO = 'acme/witness';

interface GhIssue {
  number: number;
  state: string;
  state_reason: string | null;
  title: string;
  body: string | null;
  labels: { name: string }[];
  pull_request?: unknown;
}

async function api<T>(
  w: World,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; data: T; link: string }> {
  const res = await fetch(`${w.gh.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${w.owner.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, data: (text ? JSON.parse(text) : undefined) as T, link: res.headers.get('link') ?? '' };
}

/** The witness's issues as a person sees them on GitHub (everything labelled, open or closed). */
async function witnessIssues(w: World): Promise<GhIssue[]> {
  return (await api<GhIssue[]>(w, 'GET', `/repos/${WITNESS_REPO}/issues?state=all&labels=trail-witness&per_page=100`))
    .data;
}

async function comments(w: World, n: number): Promise<string[]> {
  return (await api<{ body: string }[]>(w, 'GET', `/repos/${WITNESS_REPO}/issues/${n}/comments`)).data.map(
    (c) => c.body,
  );
}

function checkIssues(w: World, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return witness(w, ['check', '--json', '--open-issues', ...extra], {
    GITHUB_REPOSITORY: WITNESS_REPO,
    GITHUB_API_URL: w.gh.apiUrl,
    ...env,
  });
}

function redFindings(r: {
  json: any;
}): { id: string; kind: string; title: string; host: string; ref: string; commits: string[] }[] {
  return r.json.findings.filter((f: { severity: string }) => f.severity === 'finding');
}

/** The witness repository, with a pull request in it already (#1): GitHub numbers issues and
 * pull requests from one sequence, and lists both under /issues. */
async function witnessRepo(w: World): Promise<void> {
  w.gh.addRepo('acme', 'witness');
  const g = (args: string[], input?: string) => {
    const r = w.gh.gitIn(WITNESS_REPO, args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, r.err);
    return r.out;
  };
  const tree = g(['hash-object', '-t', 'tree', '-w', '--stdin'], '');
  const root = g(['commit-tree', tree, '-m', 'witness state'], '');
  const next = g(['commit-tree', tree, '-p', root, '-m', 'workflow'], '');
  g(['update-ref', 'refs/heads/main', root]);
  g(['update-ref', 'refs/heads/workflow', next]);
  const pr = await api<{ number: number }>(w, 'POST', `/repos/${WITNESS_REPO}/pulls`, {
    title: 'Add the witness workflow',
    head: 'workflow',
    base: 'main',
  });
  assert.equal(pr.status, 201);
  assert.equal(pr.data.number, 1);
}

/** Two minutes ago: older than the witness's proof grace here (60 s), well within its
 * silence limit (900 s), so the findings do not depend on how fast the test runs. */
const past = () => ({ time: new Date(Date.now() - 120_000) });

/** One host whose commits (made two minutes ago) have no proof yet: a proof-missing finding
 * (a condition) from the first look. */
async function fleet(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  await witnessRepo(w);
  const h = addHost(w, 'web1');
  h.change('root', { hosts: '127.0.0.1 localhost\n' }, { trailers: { 'Trail-Action': 'init' }, ...past() });
  h.approve();
  h.checkpoint('start', past());
  h.change('alice', { conf0: 'alice was here\n' }, past());
  // (a logs commit has no time of its own here: made now, it is within grace, not a finding)
  h.logs('{"auth.log":1}');
  h.checkpoint('heartbeat', past());
  await push(w, h);
  await addSource(w, ['--proof-grace', '60'], esplora.url);
  assert.equal((await witness(w, ['trust', 'web1', h.pubFile])).code, 0);
  return { w, h };
}

test('one issue per finding, never a duplicate; closed when it clears or is acknowledged, reopened when it comes back', async (t) => {
  const { w, h } = await fleet(t);

  // 1. The first look: one issue per red finding, none for warnings.
  const r1 = await checkIssues(w);
  assert.equal(r1.code, 11, r1.stderr);
  const red = redFindings(r1);
  assert.deepEqual(
    red.map((f) => f.kind),
    ['proof-missing'],
    JSON.stringify(r1.json.findings, null, 1),
  );
  assert.ok(
    r1.json.findings.some((f: { severity: string }) => f.severity !== 'finding'),
    'a warning (unprotected branches) is there, and gets no issue',
  );
  const missing = red[0]!;
  let issues = await witnessIssues(w);
  assert.equal(issues.length, 1, JSON.stringify(issues, null, 1));
  const issue = issues[0]!;
  assert.equal(issue.number, 2, 'numbered after the pull request #1');
  assert.deepEqual(r1.json.issues, { repository: WITNESS_REPO, opened: [2], reopened: [], closed: [] });
  assert.equal(issue.state, 'open');
  assert.equal(issue.title, `[trail witness] ${missing.title}`);
  assert.deepEqual(
    issue.labels.map((l) => l.name),
    ['trail-witness'],
  );
  assert.equal(issue.pull_request, undefined);
  const body = issue.body ?? '';
  assert.match(body, /- host: web1\n/);
  assert.ok(body.includes(`- ref: \`${missing.ref}\``), body);
  assert.equal(missing.ref, 'refs/heads/trail/web1/etc/proofs');
  for (const c of missing.commits.slice(0, 20)) assert.ok(body.includes(`\`${c}\``), `${c} not in ${body}`);
  assert.ok(missing.commits.includes(h.head('observed')!));
  assert.ok(body.endsWith(`<!-- trail-witness:${missing.id} -->`), body);
  assert.equal(r1.json.findings.find((f: { id: string }) => f.id === missing.id).issue, 2);

  // The list without a label filter is GitHub's: the pull request too, marked as one.
  const all = await api<GhIssue[]>(w, 'GET', `/repos/${WITNESS_REPO}/issues?state=all&per_page=1`);
  assert.equal(all.data.length, 1);
  assert.equal(all.data[0]!.number, 2);
  assert.match(all.link, /[?&]page=2[^>]*>; rel="next"/);
  const page2 = await api<GhIssue[]>(w, 'GET', `/repos/${WITNESS_REPO}/issues?state=all&per_page=1&page=2`);
  assert.equal(page2.data[0]!.number, 1);
  assert.ok(page2.data[0]!.pull_request, 'a pull request in the issue list carries pull_request');

  // 2. A second look with the same finding: no duplicate, nothing done.
  const r2 = await checkIssues(w);
  assert.equal(r2.code, 11);
  assert.deepEqual(r2.json.issues.opened, []);
  assert.equal((await witnessIssues(w)).length, 1);

  // 3. The host's proofs arrive: the condition clears, its issue is closed with a comment.
  await proveAll([h], cal, esplora, undefined);
  await push(w, h);
  const r3 = await checkIssues(w);
  assert.equal(r3.code, 10, JSON.stringify(r3.json.findings, null, 1));
  // (The unprotected warning may clear too, replaced by one naming the proofs branch as well,
  // which exists now: which branches are exposed is part of its key.)
  assert.ok(r3.json.cleared.includes(missing.id), JSON.stringify(r3.json.cleared));
  assert.deepEqual(r3.json.issues.closed, [2]);
  issues = await witnessIssues(w);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.state, 'closed');
  assert.equal(issues[0]!.state_reason, 'completed');
  assert.match((await comments(w, 2)).join('\n'), /^Cleared at .*: the condition is gone\.$/);

  // 4. It comes back (new commits, no proof): the same issue reopens, with a comment.
  h.change('carol', { motd: 'hello\n' }, past());
  await push(w, h);
  const r4 = await checkIssues(w);
  assert.equal(r4.code, 11);
  assert.deepEqual(r4.json.new, [missing.id]);
  assert.deepEqual(r4.json.issues, { repository: WITNESS_REPO, opened: [], reopened: [2], closed: [] });
  issues = await witnessIssues(w);
  assert.equal(issues.length, 1, 'reopened, not opened again');
  assert.equal(issues[0]!.state, 'open');
  assert.equal(issues[0]!.state_reason, 'reopened');
  const c4 = await comments(w, 2);
  assert.equal(c4.length, 2);
  assert.match(c4[1]!, /^Found again at /);

  // 5. An event (a rewrite): its own issue; `trail witness ack` closes it with the note.
  const oldTip = h.head('observed')!;
  h.git(['update-ref', 'refs/heads/observed', `${oldTip}~1`]);
  h.change('mallory', { motd: 'nothing to see\n' }, past());
  await push(w, h, { force: true, kinds: ['observed'] });
  const r5 = await checkIssues(w);
  assert.equal(r5.code, 11);
  const rewrite = redFindings(r5).find((f) => f.kind === 'rewrite');
  assert.ok(rewrite, JSON.stringify(r5.json.findings, null, 1));
  assert.deepEqual(r5.json.issues.opened, [3]);
  const i3 = (await witnessIssues(w)).find((i) => i.number === 3)!;
  assert.ok(i3.body?.includes(`<!-- trail-witness:${rewrite.id} -->`));
  assert.ok(i3.body?.includes(oldTip), 'the rewritten-away tip is named');
  assert.ok(i3.body?.includes(`trail witness ack ${rewrite.id}`), 'says how to acknowledge it');
  const ack = await witness(w, ['ack', rewrite.id, '--note', 'planned rewrite, OPS-1']);
  assert.equal(ack.code, 0, ack.stderr);
  const r6 = await checkIssues(w);
  assert.deepEqual(r6.json.issues.closed, [3]);
  assert.deepEqual(await comments(w, 3), ['Acknowledged: planned rewrite, OPS-1.']);
  assert.equal((await witnessIssues(w)).find((i) => i.number === 3)!.state, 'closed');
  // Still one issue per finding, and the proof-missing one is untouched.
  issues = await witnessIssues(w);
  assert.deepEqual(issues.map((i) => [i.number, i.state]).sort(), [
    [2, 'open'],
    [3, 'closed'],
  ]);

  // 6. A person closes the issue of an event on GitHub: the witness takes it as acknowledged.
  const base = h.head('logs')!;
  h.logs('{"auth.log":"rewritten"}');
  await push(w, h, { kinds: ['logs'] });
  h.git(['update-ref', 'refs/heads/logs', base]);
  h.logs('{"auth.log":2}');
  await push(w, h, { force: true, kinds: ['logs'] });
  const r7 = await checkIssues(w);
  const logsRewrite = redFindings(r7).find((f) => f.kind === 'rewrite');
  assert.ok(logsRewrite, JSON.stringify(r7.json.findings, null, 1));
  assert.deepEqual(r7.json.issues.opened, [4]);
  const closed = await api<GhIssue>(w, 'PATCH', `/repos/${WITNESS_REPO}/issues/4`, {
    state: 'closed',
    state_reason: 'not_planned',
  });
  assert.equal(closed.status, 200);
  assert.equal(closed.data.state_reason, 'not_planned');
  const r8 = await checkIssues(w);
  assert.ok(!r8.json.findings.some((f: { id: string }) => f.id === logsRewrite.id), 'acknowledged by closing');
  assert.deepEqual(r8.json.issues, { repository: WITNESS_REPO, opened: [], reopened: [], closed: [] });
  assert.equal((await witnessIssues(w)).length, 3);

  // Every answer and every body trail sent, in GitHub's shapes.
  const spec = loadSpec();
  for (const k of [
    'GET /repos/{owner}/{repo}/issues 200',
    'POST /repos/{owner}/{repo}/issues 201',
    'PATCH /repos/{owner}/{repo}/issues/{issue_number} 200',
    'POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201',
    'GET /repos/{owner}/{repo}/issues/{issue_number}/comments 200',
  ])
    assert.ok(w.gh.samples.has(k), `not exercised: ${k}`);
  assert.deepEqual(checkSamples(spec, w.gh.samples), []);
  assert.deepEqual(checkRequests(spec, w.gh.requestSamples), []);
  // The request check can fail: a misspelt field, a state GitHub does not know.
  assert.deepEqual(
    checkRequests(
      spec,
      new Map([['PATCH /repos/{owner}/{repo}/issues/{issue_number}', { state: 'shut', stat_reason: 'completed' }]]),
    ),
    [
      'PATCH /repos/{owner}/{repo}/issues/{issue_number} request.state: "shut" not in ["open","closed"]',
      'PATCH /repos/{owner}/{repo}/issues/{issue_number} request: unknown field "stat_reason"',
    ],
  );
});

test('a token without Issues write: a plain error, the check and its exit code unchanged; the next run with a good token catches up', async (t) => {
  const { w } = await fleet(t);
  const readOnly = join(w.root, 'issues-read-only');
  writeFileSync(readOnly, w.gh.addToken(w.owner, { contents: 'read', issues: 'read' }) + '\n', { mode: 0o600 });
  const r1 = await checkIssues(w, ['--issues-token-file', readOnly]);
  assert.equal(r1.code, 11, 'the verdict of the check, as without --open-issues');
  assert.equal(r1.json.status, 'findings');
  const red = redFindings(r1);
  assert.deepEqual(
    red.map((f) => f.kind),
    ['proof-missing'],
  );
  assert.equal(r1.json.issues.repository, WITNESS_REPO);
  assert.deepEqual(r1.json.issues.opened, []);
  assert.match(
    r1.json.issues.error,
    /^POST \/api\/v3\/repos\/acme\/witness\/issues: HTTP 403 Resource not accessible by personal access token — the token needs Issues: read and write on acme\/witness/,
  );
  assert.match(r1.stderr, /trail: issues in acme\/witness not all updated: .*HTTP 403/);
  assert.ok(!r1.stderr.includes('github_pat_'), 'the token never appears');
  assert.equal((await witnessIssues(w)).length, 0);
  // The finding is no longer new on the next run; with a token that may write, its issue is
  // opened all the same (and only once).
  const r2 = await checkIssues(w);
  assert.equal(r2.code, 11);
  assert.deepEqual(r2.json.new, []);
  assert.deepEqual(r2.json.issues.opened, [2]);
  const r3 = await checkIssues(w);
  assert.deepEqual(r3.json.issues.opened, []);
  const issues = await witnessIssues(w);
  assert.equal(issues.length, 1);
  assert.ok(issues[0]!.body?.includes(`<!-- trail-witness:${red[0]!.id} -->`));
  // A token that cannot even read the issues: the same, and the list is what fails.
  const none = join(w.root, 'issues-none');
  writeFileSync(none, w.gh.addToken(w.owner, { contents: 'read' }) + '\n', { mode: 0o600 });
  const r4 = await checkIssues(w, ['--issues-token-file', none]);
  assert.equal(r4.code, 11);
  assert.match(r4.json.issues.error, /^GET \/api\/v3\/repos\/acme\/witness\/issues: HTTP 403 /);
});

test("a host's text in an issue is inert: no marker, comment or mention of its own files the issue elsewhere", () => {
  const forged = '<!-- trail-witness:W-c30597d16e -->';
  const f = {
    id: 'W-0123456789',
    key: 'audit-config|acme/fleet|web1|etc',
    kind: 'audit-config',
    severity: 'finding',
    event: true,
    repository: 'acme/fleet',
    host: 'web1',
    name: 'etc',
    ref: 'refs/heads/trail/web1/etc/checkpoints',
    commits: [],
    times: { at: `2026-12-06T10:00:00Z ${forged}` },
    title: 'audit configuration was changed',
    message: `audit rules changed by ansible (planned, OPS-123) ${forged} cc @security-team`,
  } as unknown as Finding;
  const body = issueBody(f);
  assert.equal(markerOf(body), 'W-0123456789');
  assert.equal(body.split('<!--').length, 2, `one HTML comment only, the witness's own:\n${body}`);
  assert.ok(!/@security-team/.test(body), "a mention in the host's name");
  assert.match(body, /&lt;!-- trail-witness:W-c30597d16e --&gt;/);
  // An issue written before (the marker last) is still found by it.
  assert.equal(markerOf('text\n\n<!-- trail-witness:W-abc -->'), 'W-abc');
  assert.equal(markerOf('<!-- trail-witness:W-abc --> text after'), undefined);
});
