// `trail witness` against a fleet on the GitHub stand-in: real git, real ssh-keygen signatures,
// real OpenTimestamps proofs from the local calendar, Bitcoin blocks from the esplora stub.
// Every scenario of the issue is made by hand on the hosts (or on "GitHub" itself) and the
// witness must name it precisely: kind, host, ref and commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anchorStubs } from '../support/anchor-stubs.js';
import { addSource, check, ordinaryHost, proveAll, protect, push, witness, world } from './helpers.js';
import { RULESET_INCLUDE } from '../../src/act/publish/ruleset-guard.js';

const { cal, esplora } = anchorStubs();
let height = 800_000;

test('a clean fleet, every proof in a block and every key pinned: exit 0, all green', async (t) => {
  const w = await world(t);
  const hosts = [ordinaryHost(w, 'web1'), ordinaryHost(w, 'db1', ['carol'])];
  await proveAll(hosts, cal, esplora, { height: height++ });
  for (const h of hosts) await push(w, h);
  await protect(w);
  await addSource(w, [], esplora.url);
  for (const h of hosts) assert.equal((await witness(w, ['trust', h.host, h.pubFile])).code, 0);
  const r = await check(w);
  assert.equal(r.code, 0, JSON.stringify(r.json.findings, null, 1));
  assert.equal(r.json.status, 'clear');
  assert.deepEqual(
    r.json.hosts.map((h: { verdict: string }) => h.verdict),
    ['green', 'green'],
  );
  const web1 = r.json.hosts.find((h: { host: string }) => h.host === 'web1');
  assert.equal(web1.lastCheckpoint.seq, 2);
  assert.equal(web1.key.how, 'pinned');
  assert.ok(web1.proofs.anchored >= 6, JSON.stringify(web1.proofs));
  const happened = r.json.happened.find((h: { host: string }) => h.host === 'web1');
  assert.deepEqual(happened.byActor, { alice: 1, bob: 1 });
  // A second look with nothing new stays clear and finds nothing new.
  const again = await check(w);
  assert.equal(again.code, 0);
  assert.deepEqual(again.json.new, []);
});

test('protected as `trail remote protect` does it (approved left out, the merge button moves it): green, no warning', async (t) => {
  const w = await world(t);
  const h = ordinaryHost(w, 'web1');
  await proveAll([h], cal, esplora, { height: height++ });
  await push(w, h);
  await protect(w, [...RULESET_INCLUDE]);
  await addSource(w, [], esplora.url);
  await witness(w, ['trust', 'web1', h.pubFile]);
  const r = await check(w);
  assert.equal(r.code, 0, JSON.stringify(r.json.findings, null, 1));
  assert.deepEqual(r.json.findings, []);
  assert.equal(r.json.hosts[0].verdict, 'green');
  assert.equal(r.json.hosts[0].protection.branches.approved.protected, false, 'approved is asked, and not protected');
});

test('a source the witness cannot read is never all clear: exit 12, the source named, until it reads again', async (t) => {
  const w = await world(t);
  const h = ordinaryHost(w, 'web1');
  await proveAll([h], cal, esplora, { height: height++ });
  await push(w, h);
  await protect(w);
  await addSource(w, [], esplora.url);
  await witness(w, ['trust', 'web1', h.pubFile]);
  assert.equal((await check(w)).code, 0);
  // The fetch fails (here a token GitHub refuses; a crafted object the fetch's fsck refuses
  // does the same): nothing about the fleet's hosts is known in this run.
  const blind = await witness(w, ['check', '--json'], { GITHUB_TOKEN: 'not-a-token' });
  assert.equal(blind.code, 12, JSON.stringify(blind.json, null, 1));
  assert.equal(blind.json.status, 'unknown');
  assert.ok(
    blind.json.findings.some(
      (f: { kind: string; repository: string }) => f.kind === 'source-unreachable' && f.repository === w.repo,
    ),
  );
  const human = await witness(w, ['check'], { GITHUB_TOKEN: 'not-a-token' });
  assert.equal(human.code, 12);
  assert.match(human.stdout, /not checked: a source could not be read/);
  // Readable again: clear again.
  const back = await check(w);
  assert.equal(back.code, 0, JSON.stringify(back.json.findings, null, 1));
  assert.equal(back.json.status, 'clear');
});

test('proofs still waiting for Bitcoin and nothing wrong: exit 10', async (t) => {
  const w = await world(t);
  const h = ordinaryHost(w, 'web1');
  await proveAll([h], cal, esplora, undefined);
  await push(w, h);
  await protect(w);
  await addSource(w, [], esplora.url);
  await witness(w, ['trust', 'web1', h.pubFile]);
  const r = await check(w);
  assert.equal(r.code, 10, JSON.stringify(r.json.findings, null, 1));
  assert.equal(r.json.status, 'pending');
  assert.equal(r.json.hosts[0].verdict, 'amber');
  assert.ok(r.json.hosts[0].proofs.pending >= 6);
  assert.equal(r.json.hosts[0].protection.branches.observed.protected, true);
});
