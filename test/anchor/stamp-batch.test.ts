import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { readProofs, listNotes } from '../../src/anchor/shadow-git.js';
import { loadQueue, queueSummary } from '../../src/anchor/stamp-queue.js';
import { ots, isPending } from '../../src/anchor/ots-package.js';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import { makeRepo, chain, anchorOpts, g } from './helpers.js';

const calA = new OtsCalendarStub();
const calB = new OtsCalendarStub();
before(async () => {
  await calA.start();
  await calB.start();
});
after(async () => {
  await calA.stop();
  await calB.stop();
});

test('a batch of commits on several refs costs one request per calendar and gives every commit a proof of itself', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const observed = await chain(repo, 'refs/heads/observed', 12);
  const policy = await chain(repo, 'refs/trail/policy', 3);
  const secret = await chain(repo, 'refs/trail/secrets', 2);
  const before = { a: calA.counts.digest, b: calB.counts.digest };

  const r = await stampBatch(repo.gitDir, anchorOpts([calA.url, calB.url], 'http://unused', { minCalendars: 2 }));

  assert.equal(r.outcome, 'stamped');
  assert.equal(r.stamped.length, 15);
  assert.equal(calA.counts.digest - before.a, 1);
  assert.equal(calB.counts.digest - before.b, 1);
  const proofs = await readProofs(repo.gitDir);
  assert.deepEqual([...proofs.keys()].sort(), [...observed, ...policy].sort());
  for (const id of secret) assert.ok(!proofs.has(id), 'refs/trail/secrets is not anchored');
  for (const [id, bytes] of proofs) {
    const d = ots().DetachedTimestampFile.deserialize(bytes);
    assert.equal(Buffer.from(d.fileDigest()).toString('hex'), id);
    const uris = [...d.timestamp.getAttestations()]
      .filter(isPending)
      .map((a) => a.uri)
      .sort();
    assert.deepEqual(uris, [calA.url, calB.url].sort());
  }
  assert.equal((await loadQueue(repo.gitDir)).entries && (await queueSummary(repo.gitDir)).queued, 0);

  // Nothing new: nothing sent.
  const again = await stampBatch(repo.gitDir, anchorOpts([calA.url, calB.url], 'http://unused'));
  assert.equal(again.outcome, 'nothing-to-stamp');
  assert.equal(calA.counts.digest - before.a, 1);
});

test('only new commits go into the next batch; notes survive fan-out', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const first = await chain(repo, 'refs/heads/observed', 300);
  assert.equal((await stampBatch(repo.gitDir, anchorOpts([calA.url], 'x'))).stamped.length, 300);
  const more = await chain(repo, 'refs/heads/observed', 5, first.at(-1));
  const r = await stampBatch(repo.gitDir, anchorOpts([calA.url], 'x'));
  assert.deepEqual(r.stamped.sort(), [...more].sort());
  const notes = await listNotes(repo.gitDir);
  assert.equal(notes.size, 305);
  // git itself reads every note back (its own fan-out handling).
  const shown = await g(repo.gitDir, ['notes', '--ref=trail-ots', 'list', first[0]!]);
  assert.match(shown, /^[0-9a-f]{40}$/);
});
