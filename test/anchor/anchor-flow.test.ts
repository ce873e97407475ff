// stamp → upgrade while pending → mine → upgrade → verify, with the real opentimestamps
// client against the local calendar and explorer; the exported proof checked by the
// package's own verify, independent of trail's verification code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { upgrade } from '../../src/anchor/upgrade-proofs.js';
import { verify, VERIFY_EXIT } from '../../src/anchor/verify-trail.js';
import { exportProof } from '../../src/anchor/export-proof.js';
import { readProofs } from '../../src/anchor/shadow-git.js';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import { EsploraStub } from '../support/esplora.js';
import { makeRepo, chain, anchorOpts, quietly, reference } from './helpers.js';

const calA = new OtsCalendarStub();
const calB = new OtsCalendarStub();
const esplora = new EsploraStub();
before(async () => {
  await calA.start();
  await calB.start();
  await esplora.start();
});
after(async () => {
  await calA.stop();
  await calB.stop();
  await esplora.stop();
});

test('stamp, upgrade while pending changes nothing, confirm, upgrade, verify', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const opts = anchorOpts([calA.url, calB.url], esplora.url, { minCalendars: 2 });
  const ids = await chain(repo, 'refs/heads/observed', 6);
  await chain(repo, 'refs/heads/approved', 2, ids[2]);
  assert.equal((await stampBatch(repo.gitDir, opts)).outcome, 'stamped');

  const pendingVerdict = await verify(repo.gitDir, undefined, opts);
  assert.equal(pendingVerdict.status, 'pending');
  assert.equal(pendingVerdict.counts.pending, 8);
  assert.deepEqual(pendingVerdict.findings, []);

  const before = await readProofs(repo.gitDir);
  const early = await upgrade(repo.gitDir, opts);
  assert.deepEqual(early.upgraded, []);
  assert.equal(early.pending.length, 8);
  assert.equal(early.requests, 2, 'one question per calendar commitment, not per commit');
  assert.deepEqual(await readProofs(repo.gitDir), before, 'nothing changes while pending');

  const blockTime = Math.floor(Date.now() / 1000) + 600;
  esplora.addBlock(calA.mine(800_001, blockTime));
  const up = await upgrade(repo.gitDir, opts);
  assert.equal(up.upgraded.length, 8);
  assert.equal(up.requests, 2);

  const v = await verify(repo.gitDir, undefined, opts);
  assert.equal(v.status, 'verified', JSON.stringify(v.findings));
  assert.equal(VERIFY_EXIT[v.status], 0);
  assert.equal(v.explorer, esplora.url);
  for (const c of v.commits) {
    assert.equal(c.anchoredAt, blockTime);
    assert.deepEqual(
      c.bitcoin.map((b) => [b.height, b.outcome]),
      [[800_001, 'matches']],
    );
    assert.deepEqual(c.pendingCalendars, [calB.url], 'calendar B still pending');
  }
  // Calendar B confirms later, in another block: a second, independent Bitcoin attestation.
  esplora.addBlock(calB.mine(800_002, blockTime + 600));
  const second = await upgrade(repo.gitDir, opts);
  assert.equal(second.complete, 8, 'a proof with a Bitcoin attestation is not asked again');

  // Offline verification: nothing checked against blocks, so nothing can be called verified.
  const offline = await verify(repo.gitDir, undefined, { ...opts, offline: true });
  assert.equal(offline.status, 'pending');

  // A single revision: its history only.
  const one = await verify(repo.gitDir, ids[1]!, opts);
  assert.deepEqual(one.commits.map((c) => c.id).sort(), ids.slice(0, 2).sort());
  assert.equal(one.status, 'verified');
});

test('an exported proof verifies with the package itself, and with `ots verify -d <commit id>` semantics', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const opts = anchorOpts([calA.url], esplora.url);
  const [id] = await chain(repo, 'refs/heads/observed', 1);
  await stampBatch(repo.gitDir, opts);
  const time = Math.floor(Date.now() / 1000);
  esplora.addBlock(calA.mine(800_100, time));
  await upgrade(repo.gitDir, opts);
  const { commit, ots: bytes } = await exportProof(repo.gitDir, 'refs/heads/observed');
  assert.equal(commit, id);

  const O = reference();
  const stamped = O.DetachedTimestampFile.deserialize(bytes);
  const original = O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA1(), Buffer.from(commit, 'hex'));
  const res = await quietly(() =>
    O.verify(stamped, original, {
      ignoreBitcoinNode: true,
      url: esplora.url,
      timeout: 10_000,
      whitelist: new O.Calendar.UrlWhitelist([calA.url]),
    }),
  );
  assert.deepEqual(res.bitcoin, { timestamp: time, height: 800_100 });

  // The package refuses the proof for any other commit id.
  const other = O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA1(), Buffer.alloc(20, 7));
  await assert.rejects(
    quietly(() =>
      O.verify(O.DetachedTimestampFile.deserialize(bytes), other, {
        ignoreBitcoinNode: true,
        url: esplora.url,
        timeout: 10_000,
      }),
    ),
  );
  await assert.rejects(exportProof(repo.gitDir, 'refs/heads/nope'), /no such revision in the trail/);
});

test('the package client itself stamps and upgrades against the stub calendar (protocol faithfulness)', async () => {
  const O = reference();
  const d = O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA256(), Buffer.alloc(32, 3));
  await quietly(() => O.stamp(d, { calendars: [calA.url], m: 1 }));
  assert.equal(d.timestamp.getAttestations().size, 1);
  const wl = new O.Calendar.UrlWhitelist([calA.url]);
  assert.equal(await quietly(() => O.upgrade(d, { whitelist: wl })), false, 'pending: nothing new');
  esplora.addBlock(calA.mine(800_200, 1_700_000_000));
  assert.equal(await quietly(() => O.upgrade(d, { whitelist: wl })), true);
  const res = await quietly(() =>
    O.verify(d, O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA256(), Buffer.alloc(32, 3)), {
      ignoreBitcoinNode: true,
      url: esplora.url,
      timeout: 10_000,
      whitelist: wl,
    }),
  );
  assert.equal(res.bitcoin?.height, 800_200);
});
