// A calendar that is down, slow, answers 500 or garbage never fails or loses a commit: the
// commits stay queued, the calendar backs off, and the next batch stamps them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { readProofs } from '../../src/anchor/shadow-git.js';
import { loadQueue, queueSummary, backoffMs } from '../../src/anchor/stamp-queue.js';
import { verify } from '../../src/anchor/verify-trail.js';
import { OtsCalendarStub, type CalendarMode } from '../support/ots-calendar.js';
import { makeRepo, chain, anchorOpts } from './helpers.js';

const good = new OtsCalendarStub();
const bad = new OtsCalendarStub();
const gone = new OtsCalendarStub();
before(async () => {
  await good.start();
  await bad.start();
  await gone.start();
  gone.down();
});
after(async () => {
  await good.stop();
  await bad.stop();
  await gone.stop();
});

/** The slow calendar holds its answer until the client gives up, so this limit only has to
 * let the good calendar answer on a loaded machine (400 ms did not, in tamper.test.ts). */
const SLOW_LIMIT_MS = 5_000;

for (const mode of ['down', 'slow', 'error500', 'garbage', 'empty-timestamp'] as const) {
  test(`a calendar that is ${mode}: alone it leaves every commit queued; beside a good one the batch goes through`, async (t) => {
    const repo = await makeRepo();
    t.after(() => repo.cleanup());
    bad.mode = mode === 'down' ? 'ok' : (mode as CalendarMode);
    bad.slowMs = 120_000; // far past the limit: held until the client gives up
    t.after(() => void (bad.mode = 'ok'));
    const badUrl = mode === 'down' ? gone.url : bad.url;
    const ids = await chain(repo, 'refs/heads/observed', 4);
    const now = Date.now();

    const alone = await stampBatch(repo.gitDir, { ...anchorOpts([badUrl], 'x', { timeoutMs: SLOW_LIMIT_MS }), now });
    assert.equal(alone.outcome, 'too-few-calendars');
    assert.equal(alone.calendars[0]!.ok, false);
    assert.ok(alone.calendars[0]!.error, 'the reason is reported');
    assert.equal((await readProofs(repo.gitDir)).size, 0);
    const q = await loadQueue(repo.gitDir);
    assert.deepEqual(Object.keys(q.entries).sort(), [...ids].sort());
    assert.equal(q.entries[ids[0]!]!.attempts, 1);
    assert.equal(q.calendars[badUrl]!.failures, 1);
    assert.equal(q.calendars[badUrl]!.nextTryAt, now + backoffMs(1));
    const v = await verify(repo.gitDir, undefined, { esplora: 'http://127.0.0.1:9', timeoutMs: 300 });
    assert.equal(v.status, 'pending', 'queued commits are pending, not failed');

    const both = await stampBatch(repo.gitDir, {
      ...anchorOpts([badUrl, good.url], 'x', { timeoutMs: SLOW_LIMIT_MS }),
      now,
      force: true,
    });
    assert.equal(both.outcome, 'stamped');
    assert.deepEqual(both.stamped.sort(), [...ids].sort());
    assert.deepEqual(
      both.calendars.map((c) => [c.url, c.ok]),
      [
        [badUrl, false],
        [good.url, true],
      ],
    );
    assert.equal((await readProofs(repo.gitDir)).size, 4);
    assert.equal((await queueSummary(repo.gitDir)).queued, 0);
  });
}

test('two calendars required and one down: queued, backing off, stamped once it is back', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const flaky = await new OtsCalendarStub().start();
  const flakyUrl = flaky.url;
  flaky.down();
  t.after(() => flaky.stop());
  const opts = anchorOpts([good.url, flakyUrl], 'x', { minCalendars: 2, batchSeconds: 60 });
  const t0 = Date.now();
  await chain(repo, 'refs/heads/observed', 3);

  assert.equal(
    (await stampBatch(repo.gitDir, { ...opts, now: t0 })).outcome,
    'not-due',
    'the batch window is still open',
  );
  const first = await stampBatch(repo.gitDir, { ...opts, now: t0 + 60_000 });
  assert.equal(first.outcome, 'too-few-calendars');
  assert.equal(first.queued, 3);

  // Inside the backoff, nothing is sent: the calendar that failed is not hammered.
  const goodBefore = good.counts.digest;
  const during = await stampBatch(repo.gitDir, { ...opts, now: t0 + 60_000 + backoffMs(1) - 1 });
  assert.equal(during.outcome, 'deferred');
  assert.equal(good.counts.digest, goodBefore);
  assert.equal(during.nextAttemptAt, t0 + 60_000 + backoffMs(1));

  // Still down at the next try: the backoff doubles.
  const again = await stampBatch(repo.gitDir, { ...opts, now: t0 + 60_000 + backoffMs(1) });
  assert.equal(again.outcome, 'too-few-calendars');
  const q = await loadQueue(repo.gitDir);
  assert.equal(q.calendars[flakyUrl]!.failures, 2);
  assert.equal(q.calendars[good.url]!.failures, 0);

  flaky.up();
  const later = t0 + 60_000 + backoffMs(1) + backoffMs(2);
  const back = await stampBatch(repo.gitDir, { ...opts, now: later });
  assert.equal(back.outcome, 'stamped');
  assert.equal(back.stamped.length, 3);
  assert.equal((await loadQueue(repo.gitDir)).calendars[flakyUrl]!.failures, 0);
});

test('a crash between writing notes and saving the queue loses nothing and stamps nothing twice', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  await chain(repo, 'refs/heads/observed', 2);
  const opts = anchorOpts([good.url], 'x');
  await stampBatch(repo.gitDir, opts);
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  // The queue as it was before the batch: entries whose notes were already written.
  const stale = {
    version: 1,
    entries: Object.fromEntries(
      [...(await readProofs(repo.gitDir)).keys()].map((id) => [id, { queuedAt: 0, attempts: 0 }]),
    ),
    calendars: {},
  };
  await writeFile(join(repo.gitDir, 'trail', 'anchor-queue.json'), JSON.stringify(stale));
  const before = good.counts.digest;
  assert.equal((await stampBatch(repo.gitDir, opts)).outcome, 'nothing-to-stamp');
  assert.equal(good.counts.digest, before);
  // A torn queue file is rebuilt from the refs and the notes.
  await writeFile(join(repo.gitDir, 'trail', 'anchor-queue.json'), '{"version":1,"entr');
  assert.equal((await stampBatch(repo.gitDir, opts)).outcome, 'nothing-to-stamp');
});

test('bad options are refused with a clear message', async () => {
  await assert.rejects(
    stampBatch('/nonexistent', anchorOpts([good.url], 'x', { minCalendars: 2 })),
    /minCalendars must be between 1 and the number of calendars \(1\)/,
  );
  await assert.rejects(stampBatch('/nonexistent', anchorOpts(['http://host/path'], 'x')), /served at the root/);
});
