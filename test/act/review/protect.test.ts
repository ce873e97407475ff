// trail remote protect: an append-only remote. With an admin token given once, GitHub gets a
// ruleset that refuses deletion and force-push of trail/**; the host's own token then cannot
// rewrite what it published. Without it, `remote show` and `doctor` say so plainly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, OWNER, REPO, git, personGit, world, type Host, type World } from './helpers.js';
import { checkSamples, loadSpec } from './openapi-check.js';
import { trail } from '../../support/cli.js';

// approved is published but not append-only: GitHub merges move it, trail puts it back.
const KINDS = ['observed', 'logs', 'access', 'checkpoints', 'proofs'];

/** Every file under a directory whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) hits.push(...filesContaining(p, needle));
    else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
  }
  return hits;
}

/** A push from the host's own repository with the host's own token: what a rogue root can do. */
function hostPush(w: World, h: Host, spec: string) {
  return personGit(w, w.bot, h.home, ['--git-dir', h.repo, 'push', '--porcelain', w.gh.gitUrl(FULL), spec]);
}

test(
  "remote protect: once done, the host's token can neither force-push nor delete its branches; before, show and doctor warn",
  { timeout: 600_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1', { madeOnce: true });
    writeFileSync(join(h.dir, 'hosts'), '10.0.0.1 db\n');
    assert.equal((await h.run(['snapshot', '-m', 'first'])).code, 0);
    writeFileSync(join(h.dir, 'hosts'), '10.0.0.2 db\n');
    assert.equal((await h.run(['snapshot', '-m', 'second'])).code, 0);
    const pushed = await h.run(['push', '--json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const observed = `${h.prefix}/observed`;
    const tip = w.gh.ref(FULL, observed)!;
    const parent = git(h.repo, ['rev-parse', 'refs/heads/observed~1']).stdout.toString().trim();
    assert.equal(git(h.repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), tip);

    // Not protected yet: both checks warn, naming every published branch.
    const show = await h.run(['remote', 'show', '--json']);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(show.json.protection.state, 'unprotected');
    assert.deepEqual(
      show.json.protection.branches.map((b: { branch: string; deletion: boolean }) => [b.branch, b.deletion]),
      KINDS.map((k) => [`${h.prefix}/${k}`, false]),
    );
    const doctor = await h.run(['doctor', '--json']);
    assert.equal(doctor.code, 0, doctor.stderr);
    assert.deepEqual(
      doctor.json.remotes.map((r: { trail: string; state: string }) => [r.trail, r.state]),
      [['etc', 'unprotected']],
    );
    // The auditor's allowed_signers line names the host as the remote does (review.host), in
    // doctor as in remote show.
    assert.ok(show.json.signingKey.allowedSigners.startsWith(`${h.host} `), show.json.signingKey.allowedSigners);
    assert.equal(doctor.json.signingKey.allowedSigners, show.json.signingKey.allowedSigners);
    assert.match(doctor.stderr, /NOT append-only: on acme\/fleet, this host's own token can rewrite or delete/);
    const human = await h.run(['doctor']);
    assert.match(human.stdout, /remote \(etc\):\s+NOT append-only/);
    // …and rightly: the host's token rewrites its history on GitHub, and GitHub records it.
    const rewrite = await hostPush(w, h, `+refs/heads/observed~1:refs/heads/${observed}`);
    assert.equal(rewrite.code, 0, rewrite.err);
    assert.equal((await hostPush(w, h, `+refs/heads/observed:refs/heads/${observed}`)).code, 0);
    assert.equal(w.gh.ref(FULL, observed), tip);

    // The host's token is not an admin one: protect refuses it, saying what is needed.
    const botFile = join(w.tmp, 'bot-token');
    writeFileSync(botFile, w.bot.token + '\n', { mode: 0o600 });
    const refused = await h.run(['remote', 'protect', '--admin-token-file', botFile]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the admin token may not manage rulesets on acme\/fleet \(GitHub answered 403/);
    assert.match(refused.stderr, /Administration/);

    // A repository admin's fine-grained token with Administration, given once in a 0600 file.
    const owner = [...w.gh.users.values()].find((u) => u.login === OWNER)!;
    const adminToken = w.gh.addToken(owner, { administration: 'write' });
    const adminFile = join(w.tmp, 'admin-token');
    writeFileSync(adminFile, adminToken + '\n', { mode: 0o600 });
    const first = await h.run(['remote', 'protect', '--admin-token-file', adminFile, '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json.created, true);
    assert.equal(first.json.ruleset.name, 'trail-append-only');
    assert.equal(first.json.protection.state, 'protected');
    const again = await h.run(['remote', 'protect', '--admin-token-file', adminFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /an equivalent active ruleset exists on acme\/fleet: trail-append-only/);
    // The token may also come on stdin (`gh auth token | trail remote protect`); none is a usage error.
    const viaStdin = await trail(h.home, ['remote', 'protect', '--json'], { input: adminToken + '\n' });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.equal(viaStdin.json.created, false);
    const none = await h.run(['remote', 'protect', '--json']);
    assert.equal(none.code, 2, 'no token on stdin is a usage error');
    assert.match(none.stderr, /no admin token/);
    const rulesets = (await w.as(w.bot).rest.repos.getRepoRulesets({ owner: OWNER, repo: REPO })).data;
    assert.deepEqual(
      rulesets.map((r) => r.name),
      ['trail-append-only'],
      'created once',
    );
    const created = (
      await w.as(w.bot).rest.repos.getRepoRuleset({ owner: OWNER, repo: REPO, ruleset_id: rulesets[0]!.id })
    ).data;
    assert.deepEqual(
      { conditions: created.conditions, rules: created.rules, bypass: created.bypass_actors },
      {
        conditions: {
          ref_name: { include: KINDS.map((k) => `refs/heads/trail/*/*/${k}`), exclude: [] },
        },
        rules: [{ type: 'deletion' }, { type: 'non_fast_forward' }],
        bypass: [],
      },
    );
    // The admin token went nowhere: not in the output, not in trail's state.
    for (const r of [first, again, viaStdin]) assert.ok(!(r.stdout + r.stderr).includes(adminToken));
    assert.deepEqual(filesContaining(h.home, adminToken), []);

    // Now the host's own token can neither rewrite nor delete its branch.
    const forced = await hostPush(w, h, `+refs/heads/observed~1:refs/heads/${observed}`);
    assert.notEqual(forced.code, 0);
    assert.match(
      forced.err,
      new RegExp(`remote: error: GH013: Repository rule violations found for refs/heads/${observed}\\.`),
    );
    assert.match(forced.err, /remote: - Cannot force-push to this branch/);
    const deleted = await hostPush(w, h, `:refs/heads/${observed}`);
    assert.notEqual(deleted.code, 0);
    assert.match(deleted.err, /GH013[\s\S]*remote: - Cannot delete this branch/);
    assert.equal(w.gh.ref(FULL, observed), tip, 'the published history is intact');
    // What trail does itself still goes through: new commits only add.
    writeFileSync(join(h.dir, 'hosts'), '10.0.0.3 db\n');
    assert.equal((await h.run(['snapshot', '-m', 'third'])).code, 0);
    const later = await h.run(['push', '--json']);
    assert.equal(later.code, 0, later.stderr);
    assert.notEqual(w.gh.ref(FULL, observed), tip);
    // Both checks now see it, with the host's token.
    const shown = await h.run(['remote', 'show', '--json']);
    assert.equal(shown.json.protection.state, 'protected', JSON.stringify(shown.json.protection));
    assert.ok(
      shown.json.protection.branches.every(
        (b: { deletion: boolean; nonFastForward: boolean; rulesets: number[] }) =>
          b.deletion && b.nonFastForward && b.rulesets[0] === created.id,
      ),
    );
    const healthy = await h.run(['doctor', '--json']);
    assert.equal(healthy.json.remotes[0].state, 'protected');
    assert.doesNotMatch(healthy.stderr, /append-only/);

    // GitHub's activity keeps what happened: the one force-push made before the ruleset, no other.
    const activity = await w.as(w.alice).paginate(w.as(w.alice).rest.repos.listActivities, {
      owner: OWNER,
      repo: REPO,
      ref: observed,
      direction: 'asc',
      per_page: 100,
    });
    // (The rewrite's undo was a fast-forward: a plain push.)
    assert.deepEqual(
      activity.filter((a) => a.activity_type !== 'push').map((a) => [a.activity_type, a.before, a.after]),
      [
        ['branch_creation', '0'.repeat(40), activity[0]!.after],
        ['force_push', tip, parent],
      ],
    );
    assert.equal(activity.at(-1)!.after, w.gh.ref(FULL, observed));
    assert.deepEqual(checkSamples(loadSpec(), w.gh.samples), []);
  },
);

test(
  'remote protect on a private repository without a paid plan: a clear message, from show and doctor too',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    w.gh.addRepo(OWNER, 'free', { plan: 'free' });
    const h = await w.addHost('web2', { madeOnce: true });
    const set = await h.run([
      'remote',
      'set',
      'github',
      `${OWNER}/free`,
      '--api-url',
      w.gh.apiUrl,
      '--git-url',
      w.gh.gitUrl(`${OWNER}/free`),
    ]);
    assert.equal(set.code, 0, set.stderr);
    const show = await h.run(['remote', 'show', '--json']);
    assert.equal(show.json.protection.state, 'unavailable');
    assert.match(show.json.protection.message, /private and its owner has no paid plan \(GitHub answered 403\)/);
    const owner = [...w.gh.users.values()].find((u) => u.login === OWNER)!;
    const file = join(w.tmp, 'admin-token');
    writeFileSync(file, w.gh.addToken(owner, { administration: 'write' }), { mode: 0o600 });
    const refused = await h.run(['remote', 'protect', '--admin-token-file', file, '--json']);
    assert.equal(refused.code, 1);
    assert.match(refused.json.error.message, /GitHub offers no rulesets on acme\/free: it is private/);
    const doctor = await h.run(['doctor', '--json']);
    assert.equal(doctor.json.remotes[0].state, 'unavailable');
  },
);
