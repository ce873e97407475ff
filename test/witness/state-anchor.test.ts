// The witness's own history is anchored like a host's trail: each check's state commit on
// refs/witness/state gets an OpenTimestamps proof (a note on refs/notes/trail-ots in the
// mirror) from the calendars of `witness add --calendar`, and later checks upgrade it. A
// calendar that is down changes nothing of the check but the `anchoring` report, and the next
// run stamps what was left. Real calendar stub, real git, the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseProof, pendingOf, bitcoinOf } from '../../src/anchor/proof-tree.js';
import { digestMismatch } from '../../src/anchor/what-is-stamped.js';
import { addSource, check, ordinaryHost, push, witness, world, type World } from './helpers.js';

function mirrorGit(w: World, args: string[]): string {
  const r = spawnSync('git', [`--git-dir=${join(w.state, 'mirror.git')}`, ...args], {
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

const stateCommits = (w: World) => mirrorGit(w, ['rev-list', 'refs/witness/state']).split('\n').filter(Boolean);

/** commit → proof bytes, for every note in the mirror. */
function notes(w: World): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const list = spawnSync('git', [
    `--git-dir=${join(w.state, 'mirror.git')}`,
    'notes',
    '--ref=refs/notes/trail-ots',
    'list',
  ]);
  for (const line of list.stdout.toString().split('\n').filter(Boolean)) {
    const [blob, commit] = line.split(' ') as [string, string];
    const r = spawnSync('git', [`--git-dir=${join(w.state, 'mirror.git')}`, 'cat-file', 'blob', blob]);
    out.set(commit, r.stdout);
  }
  return out;
}

test('witness check stamps its own state commits and upgrades them later', async (t) => {
  const w = await world(t);
  const web1 = ordinaryHost(w, 'web1');
  await push(w, web1);
  await addSource(w, ['--proof-grace', '86400', '--calendar', w.witnessCal.url]);

  const first = await check(w);
  web1.checkpoint('heartbeat');
  await push(w, web1);
  const second = await check(w);
  assert.equal(second.code, first.code, second.stderr);

  const commits = stateCommits(w);
  assert.equal(commits.length, 2);
  const proofs = notes(w);
  // Exactly the witness's own commits: none of the hosts' commits the mirror also holds.
  assert.deepEqual([...proofs.keys()].sort(), [...commits].sort());
  // In notes only: a proofs branch is a host's to publish (and to sign with its key).
  const branch = spawnSync('git', [
    `--git-dir=${join(w.state, 'mirror.git')}`,
    'rev-parse',
    '--verify',
    '--quiet',
    'refs/heads/proofs',
  ]);
  assert.notEqual(branch.status, 0, 'no proofs branch in the mirror');
  for (const c of commits) {
    const d = parseProof(proofs.get(c)!);
    assert.equal(digestMismatch(d, c), undefined, `the proof of ${c} commits to that commit`);
    const pend = pendingOf(d.timestamp);
    assert.ok(pend.length >= 1);
    for (const p of pend) assert.equal(p.attestation.uri, w.witnessCal.url);
  }
  assert.deepEqual(
    { ...second.json.anchoring, problems: second.json.anchoring.problems.length },
    {
      calendars: [w.witnessCal.url],
      commits: 2,
      anchored: 0,
      pending: 2,
      unstamped: 0,
      stamped: 1,
      upgraded: 0,
      problems: 0,
    },
  );

  // A block confirms both; the next check upgrades them and stamps its own commit.
  w.witnessCal.mine(800_000, Math.floor(Date.now() / 1000));
  const third = await check(w);
  assert.equal(third.json.anchoring.upgraded, 2, JSON.stringify(third.json.anchoring));
  assert.equal(third.json.anchoring.anchored, 2);
  assert.equal(third.json.anchoring.pending, 1);
  for (const c of commits) assert.equal(bitcoinOf(parseProof(notes(w).get(c)!).timestamp).length, 1);

  const list = await witness(w, ['list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    { ...list.json.anchoring, calendars: list.json.anchoring.calendars.length },
    { calendars: 1, commits: 3, anchored: 2, pending: 1, unstamped: 0, problems: [] },
  );
});

test('a calendar that is down changes neither the exit code nor the findings; the next run stamps what was left', async (t) => {
  const w = await world(t);
  const web1 = ordinaryHost(w, 'web1');
  await push(w, web1);
  await addSource(w, ['--proof-grace', '86400', '--calendar', w.witnessCal.url]);
  const up = await check(w);

  w.witnessCal.down();
  const down = await check(w);
  assert.equal(down.code, up.code, down.stderr);
  assert.deepEqual(
    down.json.findings.map((f: { id: string }) => f.id),
    up.json.findings.map((f: { id: string }) => f.id),
  );
  assert.equal(down.json.status, up.json.status);
  assert.equal(down.json.anchoring.unstamped, 1);
  assert.equal(down.json.anchoring.stamped, 0);
  assert.ok(
    down.json.anchoring.problems.some((p: string) => p.includes(w.witnessCal.url)),
    down.json.anchoring.problems,
  );
  assert.match(down.stderr, /anchoring the witness's history: calendar http:\/\/127\.0\.0\.1/);
  const missed = stateCommits(w)[0]!;
  assert.equal(notes(w).has(missed), false);

  w.witnessCal.up();
  const back = await check(w);
  assert.equal(back.code, up.code);
  assert.equal(back.json.anchoring.stamped, 2, JSON.stringify(back.json.anchoring));
  assert.equal(back.json.anchoring.unstamped, 0);
  assert.deepEqual(back.json.anchoring.problems, []);
  const proofs = notes(w);
  assert.deepEqual([...proofs.keys()].sort(), stateCommits(w).sort());
  assert.equal(digestMismatch(parseProof(proofs.get(missed)!), missed), undefined);

  // A calendar that holds every answer: given up after the witness's short per-request
  // timeout, the check's result unchanged; the commit waits for the next run.
  w.witnessCal.mode = 'slow';
  w.witnessCal.slowMs = 120_000;
  const slow = await check(w);
  assert.equal(slow.code, up.code);
  assert.deepEqual(
    slow.json.findings.map((f: { id: string }) => f.id),
    up.json.findings.map((f: { id: string }) => f.id),
  );
  assert.equal(slow.json.anchoring.stamped, 0);
  assert.equal(slow.json.anchoring.unstamped, 1);
  assert.ok(
    slow.json.anchoring.problems.some((p: string) => p.includes(w.witnessCal.url)),
    slow.json.anchoring.problems,
  );
  w.witnessCal.mode = 'ok';
  const last = await check(w);
  assert.equal(last.json.anchoring.stamped, 2);
  assert.equal(last.json.anchoring.unstamped, 0);
});
