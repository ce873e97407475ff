// The GitHub stand-in does what GitHub does for an append-only remote: repository rulesets
// (create, list, get, the rules that apply to a branch), their enforcement on a real
// `git push` through `git http-backend` (GH013), and the repository activity a witness reads.
// Everything through real octokit and real git; every response checked against GitHub's
// OpenAPI description.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { fnmatch } from '../../support/github-rules.js';
import { FULL, OWNER, REPO, personGit, world, type World } from './helpers.js';
import { checkSamples, loadSpec } from './openapi-check.js';
import type { User } from '../../support/github-server.js';

const APPEND_ONLY = {
  name: 'trail-append-only',
  target: 'branch' as const,
  enforcement: 'active' as const,
  bypass_actors: [],
  conditions: { ref_name: { include: ['refs/heads/trail/**/*'], exclude: [] } },
  rules: [{ type: 'deletion' as const }, { type: 'non_fast_forward' as const }],
};

test("ruleset patterns follow Ruby's File.fnmatch with FNM_PATHNAME, as GitHub documents", () => {
  const cases: [string, string, boolean][] = [
    ['refs/heads/trail/**/*', 'refs/heads/trail/web1/etc/observed', true],
    ['refs/heads/trail/**/*', 'refs/heads/trail/x', true],
    ['refs/heads/trail/**/*', 'refs/heads/trail', false],
    ['refs/heads/trail/**/*', 'refs/heads/trailer/x', false],
    ['refs/heads/trail/**/*', 'refs/heads/trail/.hidden/x', false],
    ['refs/heads/qa/*', 'refs/heads/qa/foo', true],
    ['refs/heads/qa/*', 'refs/heads/qa/foo/bar', false],
    ['refs/heads/qa**/**/*', 'refs/heads/qa-x/foo/bar', true],
    ['refs/heads/rel-[0-9]', 'refs/heads/rel-7', true],
    ['refs/heads/rel-[!0-9]', 'refs/heads/rel-7', false],
    ['refs/heads/ma?n', 'refs/heads/main', true],
    ['refs/heads/ma?n', 'refs/heads/ma/n', false],
    ['refs/heads/main', 'refs/heads/main', true],
    ['refs/heads/main', 'refs/heads/mainline', false],
  ];
  const wrong = cases.filter(([p, s, want]) => fnmatch(p, s) !== want);
  assert.deepEqual(wrong, []);
});

/** A person's working repository that pushes to the stand-in over HTTP. */
async function workRepo(w: World, u: User, name: string) {
  const dir = join(w.tmp, 'work', name);
  mkdirSync(dir, { recursive: true });
  const run = async (args: string[]) => {
    const r = await personGit(w, u, dir, args);
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.err}`);
    return r.out.trim();
  };
  await run(['init', '--quiet', '-b', 'main']);
  let n = 0;
  const commit = async (parent?: string) => {
    n++;
    const tree = (await personGit(w, u, dir, ['mktree'], `100644 blob ${await blob(`v${n}\n`)}\tf\n`)).out.trim();
    return run(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', `c${n}`]);
  };
  const blob = async (text: string) => (await personGit(w, u, dir, ['hash-object', '-w', '--stdin'], text)).out.trim();
  const push = (as: User, spec: string) => personGit(w, as, dir, ['push', '--porcelain', w.gh.gitUrl(FULL), spec]);
  return { commit, push };
}

test(
  'rulesets: admin-only creation, the rules a branch gets, and GH013 on a force-push or deletion of a protected branch',
  { timeout: 300_000 },
  async (t) => {
    const spec = loadSpec();
    const w = await world(t);
    const owner = [...w.gh.users.values()].find((u) => u.login === OWNER)!;
    const oct = (token: string) =>
      new Octokit({
        auth: token,
        baseUrl: w.gh.apiUrl,
        log: { debug() {}, info() {}, warn() {}, error() {} },
        request: { retries: 0 },
      });
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: { status?: number; response?: { data?: { message?: string } } }) =>
          `${e.status} ${e.response?.data?.message ?? ''}`,
      );
    const repo = { owner: OWNER, repo: REPO };

    // Who may create one: the repository's admin, and a token of theirs only with Administration.
    assert.equal(
      await status(w.as(w.bot).rest.repos.createRepoRuleset({ ...repo, ...APPEND_ONLY })),
      '403 Must have admin rights to Repository.',
    );
    const contentsOnly = w.gh.addToken(owner, { contents: 'write', pull_requests: 'write' });
    assert.equal(
      await status(oct(contentsOnly).rest.repos.createRepoRuleset({ ...repo, ...APPEND_ONLY })),
      '403 Resource not accessible by personal access token',
    );
    const admin = oct(w.gh.addToken(owner, { administration: 'write', contents: 'read' }));
    const created = (await admin.rest.repos.createRepoRuleset({ ...repo, ...APPEND_ONLY })).data;
    assert.equal(created.enforcement, 'active');
    assert.deepEqual(created.conditions, APPEND_ONLY.conditions);
    assert.equal(created.current_user_can_bypass, 'never');
    assert.equal(
      await status(admin.rest.repos.createRepoRuleset({ ...repo, ...APPEND_ONLY })),
      '422 Validation Failed',
      'a second ruleset of the same name',
    );
    assert.equal(
      await status(
        admin.rest.repos.createRepoRuleset({ ...repo, ...APPEND_ONLY, name: 'x', rules: [{ type: 'bogus' } as never] }),
      ),
      '422 Validation Failed',
    );
    // Anyone who can read the repository sees them; the list is a summary, the get is whole.
    const bot = w.as(w.bot);
    const list = (await bot.rest.repos.getRepoRulesets(repo)).data;
    assert.deepEqual(
      list.map((r) => [r.id, r.name, r.enforcement]),
      [[created.id, 'trail-append-only', 'active']],
    );
    assert.equal((list[0] as { rules?: unknown }).rules, undefined);
    const got = (await bot.rest.repos.getRepoRuleset({ ...repo, ruleset_id: created.id })).data;
    assert.deepEqual(got.rules, APPEND_ONLY.rules);
    // A ruleset only evaluated or disabled never applies; one with an exclude leaves that branch out.
    await admin.rest.repos.createRepoRuleset({
      ...repo,
      ...APPEND_ONLY,
      name: 'dry run',
      enforcement: 'evaluate',
      conditions: { ref_name: { include: ['~ALL'], exclude: [] } },
      rules: [{ type: 'creation' }],
    });
    await admin.rest.repos.createRepoRuleset({
      ...repo,
      ...APPEND_ONLY,
      name: 'default branch',
      conditions: {
        ref_name: { include: ['~DEFAULT_BRANCH', 'refs/heads/release/*'], exclude: ['refs/heads/release/old'] },
      },
      rules: [{ type: 'deletion' }],
      bypass_actors: [{ actor_type: 'RepositoryRole', actor_id: 5, bypass_mode: 'always' }],
    });
    const rulesOf = async (branch: string) =>
      (await bot.rest.repos.getBranchRules({ ...repo, branch })).data.map(
        (r) => `${r.type}@${(r as { ruleset_id?: number }).ruleset_id === created.id ? 'append-only' : 'other'}`,
      );
    assert.deepEqual(await rulesOf('trail/web1/etc/observed'), [
      'deletion@append-only',
      'non_fast_forward@append-only',
    ]);
    assert.deepEqual(await rulesOf('trail/x'), ['deletion@append-only', 'non_fast_forward@append-only']);
    assert.deepEqual(await rulesOf('scratch/x'), []);
    assert.deepEqual(await rulesOf('trailer/x'), []);
    assert.deepEqual(await rulesOf('main'), ['deletion@other']);
    assert.deepEqual(await rulesOf('release/1'), ['deletion@other']);
    assert.deepEqual(await rulesOf('release/old'), []);

    // Enforcement on a real push: the host's token (write, no bypass) against both kinds of branch.
    const work = await workRepo(w, w.bot, 'bot');
    const a = await work.commit();
    const b = await work.commit(a);
    const other = await work.commit();
    for (const branch of ['trail/web1/etc/observed', 'scratch/x', 'release/1'])
      assert.equal((await work.push(w.bot, `${a}:refs/heads/${branch}`)).code, 0);
    assert.equal((await work.push(w.bot, `${b}:refs/heads/trail/web1/etc/observed`)).code, 0, 'fast-forward');
    const forced = await work.push(w.bot, `+${other}:refs/heads/trail/web1/etc/observed`);
    assert.notEqual(forced.code, 0);
    assert.match(
      forced.err,
      /remote: error: GH013: Repository rule violations found for refs\/heads\/trail\/web1\/etc\/observed\./,
    );
    assert.match(forced.err, /remote: - Cannot force-push to this branch/);
    assert.match(forced.out, /^!\t.*refs\/heads\/trail\/web1\/etc\/observed\t\[remote rejected\]/m);
    const deleted = await work.push(w.bot, ':refs/heads/trail/web1/etc/observed');
    assert.notEqual(deleted.code, 0);
    assert.match(deleted.err, /GH013[\s\S]*remote: - Cannot delete this branch/);
    assert.equal(w.gh.ref(FULL, 'trail/web1/etc/observed'), b, 'the protected branch did not move');
    // Unprotected: the same force-push and deletion go through.
    assert.equal((await work.push(w.bot, `+${other}:refs/heads/scratch/x`)).code, 0);
    assert.equal((await work.push(w.bot, ':refs/heads/scratch/x')).code, 0);
    assert.equal(w.gh.ref(FULL, 'scratch/x'), undefined);
    // Bypass: the admin role may delete release/1, the host's token may not.
    const refused = await work.push(w.bot, ':refs/heads/release/1');
    assert.match(refused.err, /Cannot delete this branch/);
    assert.equal((await work.push(owner, ':refs/heads/release/1')).code, 0);
    // A token without Contents write cannot push at all.
    const readOnly = w.gh.addToken(w.bot, { contents: 'read' });
    assert.notEqual(
      (await work.push({ ...w.bot, token: readOnly }, `${b}:refs/heads/scratch/y`)).code,
      0,
      'a read-only token pushed',
    );

    // Activity: one entry per accepted ref update, none for the refused ones.
    const all = await bot.paginate(bot.rest.repos.listActivities, { ...repo, per_page: 2, direction: 'asc' });
    assert.deepEqual(
      all.map((e) => [e.activity_type, e.ref.replace('refs/heads/', ''), e.before.slice(0, 7), e.after.slice(0, 7)]),
      [
        ['branch_creation', 'trail/web1/etc/observed', '0000000', a.slice(0, 7)],
        ['branch_creation', 'scratch/x', '0000000', a.slice(0, 7)],
        ['branch_creation', 'release/1', '0000000', a.slice(0, 7)],
        ['push', 'trail/web1/etc/observed', a.slice(0, 7), b.slice(0, 7)],
        ['force_push', 'scratch/x', a.slice(0, 7), other.slice(0, 7)],
        ['branch_deletion', 'scratch/x', other.slice(0, 7), '0000000'],
        ['branch_deletion', 'release/1', a.slice(0, 7), '0000000'],
      ],
    );
    assert.deepEqual(
      all.map((e) => e.actor?.login),
      ['trail-bot', 'trail-bot', 'trail-bot', 'trail-bot', 'trail-bot', 'trail-bot', OWNER],
    );
    assert.ok(all.every((e) => Date.parse(e.timestamp) > 0 && e.node_id));
    const newest = (await bot.rest.repos.listActivities({ ...repo, per_page: 1 })).data;
    assert.equal(newest[0]!.id, all.at(-1)!.id, 'newest first by default');
    const page1 = await bot.rest.repos.listActivities({ ...repo, per_page: 3 });
    assert.match(String(page1.headers.link), /rel="next"/);
    const next = /<([^>]+)>; rel="next"/.exec(String(page1.headers.link))![1]!;
    const page2 = await bot.request(`GET ${next}`);
    assert.match(String(page2.headers.link), /rel="prev"/);
    assert.deepEqual(
      [...page1.data, ...(page2.data as typeof page1.data)].map((e) => e.id),
      all
        .map((e) => e.id)
        .reverse()
        .slice(0, 6),
    );
    const forcedOnly = (await bot.rest.repos.listActivities({ ...repo, activity_type: 'force_push' })).data;
    assert.deepEqual(
      forcedOnly.map((e) => e.ref),
      ['refs/heads/scratch/x'],
    );
    const byRef = (await bot.rest.repos.listActivities({ ...repo, ref: 'trail/web1/etc/observed' })).data;
    assert.deepEqual(
      byRef.map((e) => e.activity_type),
      ['push', 'branch_creation'],
    );
    assert.equal(
      await status(bot.rest.repos.listActivities({ ...repo, activity_type: 'nonsense' as never })),
      '422 Invalid activity_type',
    );

    // A private repository without a paid plan: no rulesets (GitHub's 403), nothing enforced.
    w.gh.addRepo(OWNER, 'free', { plan: 'free' });
    assert.equal(
      await status(admin.rest.repos.createRepoRuleset({ owner: OWNER, repo: 'free', ...APPEND_ONLY })),
      '403 Upgrade to GitHub Pro or make this repository public to enable this feature.',
    );
    assert.match(
      String(await status(bot.rest.repos.getBranchRules({ owner: OWNER, repo: 'free', branch: 'trail/x' }))),
      /^403 Upgrade to GitHub Pro/,
    );

    for (const k of [
      'POST /repos/{owner}/{repo}/rulesets 201',
      'POST /repos/{owner}/{repo}/rulesets 422',
      'GET /repos/{owner}/{repo}/rulesets 200',
      'GET /repos/{owner}/{repo}/rulesets/{ruleset_id} 200',
      'GET /repos/{owner}/{repo}/rules/branches/{branch} 200',
      'GET /repos/{owner}/{repo}/activity 200',
      'GET /repos/{owner}/{repo}/activity 422',
    ])
      assert.ok(w.gh.samples.has(k), `not exercised: ${k}`);
    assert.deepEqual(checkSamples(spec, w.gh.samples), []);
  },
);
