// Check 1 and 5 against what a rogue holder of the host's token can do on an unprotected
// repository: force-push a rewrite, delete a branch, delete a proof (on the host and on
// GitHub). The witness must name each one — kind, host, ref, the commits dropped — and keep
// the dropped history in its mirror.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { run } from '../../src/util/exec.js';
import { stampCommits } from '../support/fleet.js';
import { addSource, check, ordinaryHost, proveAll, push, witness, world, type World } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';

const { cal, esplora } = anchorStubs();

function mirror(w: World, args: string[]) {
  const r = spawnSync('git', [`--git-dir=${w.state}/mirror.git`, ...args], {
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  });
  return { code: r.status, out: r.stdout.toString().trim() };
}

async function fleet(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  const h = ordinaryHost(w, 'web1');
  await proveAll([h], cal, esplora, undefined);
  await push(w, h);
  await addSource(w, ['--proof-grace', '86400'], esplora.url);
  await witness(w, ['trust', 'web1', h.pubFile]);
  const first = await check(w);
  assert.equal(first.code, 10, JSON.stringify(first.json.findings, null, 1));
  // Check 6: no ruleset protects these branches — a warning, which does not fail the check.
  const unprot = first.json.findings.filter((f: { kind: string }) => f.kind === 'unprotected');
  assert.equal(unprot.length, 1);
  assert.equal(unprot[0].severity, 'warning');
  assert.match(unprot[0].title, /checkpoints/);
  return { w, h };
}

test('a rewrite force-pushed to an unprotected branch: named, with its lost commits kept', async (t) => {
  const { w, h } = await fleet(t);
  const oldTip = h.head('observed')!;
  const dropped = h.git(['rev-list', `${oldTip}~2..${oldTip}`]).split('\n');
  // Reset observed two commits back and put something else on top: a history without them.
  h.git(['update-ref', 'refs/heads/observed', `${oldTip}~2`]);
  const newTip = h.change('mallory', { motd: 'nothing to see\n' });
  await push(w, h, { force: true, kinds: ['observed'] });
  const r = await check(w);
  assert.equal(r.code, 11);
  const f = r.json.findings.filter((x: { kind: string }) => x.kind === 'rewrite');
  assert.equal(f.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.equal(f[0].host, 'web1');
  assert.equal(f[0].name, 'etc');
  assert.equal(f[0].ref, 'refs/heads/trail/web1/etc/observed');
  assert.equal(f[0].commits[0], oldTip);
  assert.equal(f[0].commits[1], newTip);
  assert.deepEqual(new Set(f[0].commits.slice(2)), new Set(dropped));
  // GitHub's activity records the force push: its time and actor are in the finding.
  assert.ok(f[0].times.githubActivity, JSON.stringify(f[0].times));
  assert.match(f[0].message, /acme-bot/);
  assert.deepEqual(r.json.new, [f[0].id]);
  // The lost history is still in the witness's mirror, under a kept ref.
  const kept = mirror(w, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/witness/kept/']).out;
  assert.equal(kept, `${oldTip} refs/witness/kept/acme/fleet/web1/etc/observed/${oldTip}`);
  for (const id of dropped) assert.equal(mirror(w, ['cat-file', '-e', id]).code, 0);
  // Reported once: the next look keeps it open (an event) but does not report it as new.
  const again = await check(w);
  assert.equal(again.code, 11);
  assert.deepEqual(again.json.new, []);
  // A person acknowledges it: the check is no longer failing for it.
  const ack = await witness(w, ['ack', f[0].id, '--note', 'test rewrite']);
  assert.equal(ack.code, 0, ack.stderr);
  const after = await check(w);
  assert.equal(
    after.json.findings.filter((x: { kind: string }) => x.kind === 'rewrite').length,
    0,
    JSON.stringify(after.json.findings),
  );
});

test('a rewrite pushed and undone between two looks is still seen, through GitHub activity', async (t) => {
  const { w, h } = await fleet(t);
  const base = h.head('logs')!;
  const evil = h.logs('{"auth.log":"rewritten"}');
  await push(w, h, { kinds: ['logs'] });
  h.git(['update-ref', 'refs/heads/logs', base]);
  const honest = h.logs('{"auth.log":2}');
  await push(w, h, { force: true, kinds: ['logs'] });
  const r = await check(w);
  assert.equal(r.code, 11);
  const f = r.json.findings.find((x: { kind: string; commits: string[] }) => x.kind === 'rewrite');
  assert.ok(f, JSON.stringify(r.json.findings, null, 1));
  assert.equal(f.ref, 'refs/heads/trail/web1/etc/logs');
  assert.deepEqual(f.commits, [evil, honest]);
  assert.match(f.message, /never fetched/);
});

test('a deleted branch: named, and its history kept', async (t) => {
  const { w, h } = await fleet(t);
  const tip = h.head('logs')!;
  await run('git', [`--git-dir=${h.gitDir}`, 'push', '--quiet', w.gitUrl, ':refs/heads/trail/web1/etc/logs'], {
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x:${w.owner.token}`).toString('base64')}`,
    },
  });
  const r = await check(w);
  assert.equal(r.code, 11);
  const f = r.json.findings.filter((x: { kind: string }) => x.kind === 'branch-deleted');
  assert.equal(f.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.equal(f[0].ref, 'refs/heads/trail/web1/etc/logs');
  assert.equal(f[0].commits[0], tip);
  assert.ok(f[0].times.githubActivity);
  assert.equal(mirror(w, ['rev-parse', `refs/witness/kept/acme/fleet/web1/etc/logs/${tip}`]).out, tip);
});

test('a proof deleted on the host and pushed, then the proofs branch reset on GitHub: both named', async (t) => {
  const { w, h } = await fleet(t);
  const victim = h.head('observed')!;
  // 1. The host's proofs branch drops one proof (a fast-forward commit without the file).
  h.proofs([], { remove: [victim] });
  await push(w, h, { kinds: ['proofs'] });
  const r1 = await check(w);
  assert.equal(r1.code, 11);
  const del = r1.json.findings.filter((x: { kind: string }) => x.kind === 'proof-deleted');
  assert.equal(del.length, 1, JSON.stringify(r1.json.findings, null, 1));
  assert.equal(del[0].commits[0], victim);
  assert.equal(del[0].ref, 'refs/heads/trail/web1/etc/proofs');
  // 2. Another proof goes by resetting the proofs branch itself on GitHub (force push).
  const before = h.head('proofs')!;
  const other = h.checkpoint('heartbeat');
  const proof = (await stampCommits(cal.url, [other])).get(other)!;
  h.proofs([{ commit: other, bytes: proof }]);
  await push(w, h);
  await check(w);
  h.git(['update-ref', 'refs/heads/proofs', before]);
  await push(w, h, { force: true, kinds: ['proofs'] });
  const r2 = await check(w);
  const kinds = r2.json.findings.map((x: { kind: string }) => x.kind);
  assert.ok(kinds.includes('rewrite'), JSON.stringify(kinds));
  const del2 = r2.json.findings.filter(
    (x: { kind: string; commits: string[] }) => x.kind === 'proof-deleted' && x.commits[0] === other,
  );
  assert.equal(del2.length, 1, JSON.stringify(r2.json.findings, null, 1));
});

test("a flood of pushes between two looks, more than the witness reads of GitHub's record: the lost span is a finding", async (t) => {
  const { w, h } = await fleet(t);
  // 3,001 junk branches in one push: 3,001 activity entries, more than the 30 pages of 100 the
  // witness reads; a force-push hidden before them would be lost to GitHub's record.
  const input = Array.from({ length: 3001 }, (_, i) => `create refs/heads/junk/b${i} ${h.head('observed')}\n`).join('');
  const git = (args: string[], stdin?: string) =>
    run('git', [`--git-dir=${h.gitDir}`, ...args], {
      ...(stdin !== undefined ? { input: stdin } : {}),
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' },
    });
  await git(['update-ref', '--stdin'], input);
  const basic = Buffer.from(`x-access-token:${w.owner.token}`).toString('base64');
  await git([
    '-c',
    `http.extraHeader=Authorization: Basic ${basic}`,
    'push',
    '--quiet',
    w.gitUrl,
    'refs/heads/junk/*:refs/heads/junk/*',
  ]);
  const r = await check(w);
  const gap = r.json.findings.filter((f: { kind: string }) => f.kind === 'activity-gap');
  assert.equal(gap.length, 1, JSON.stringify(r.json.findings, null, 1));
  assert.equal(gap[0].severity, 'finding');
  assert.match(gap[0].message, /read the newest 3000 pushes and did not reach the last one it had seen/);
  assert.equal(r.code, 11);
  // The next look reads on from the newest: nothing more is lost, and the event stays open.
  const again = await check(w);
  assert.equal(again.json.findings.filter((f: { kind: string }) => f.kind === 'activity-gap').length, 1);
  assert.deepEqual(again.json.new, []);
});
