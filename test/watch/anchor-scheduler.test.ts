import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  UPGRADE_EVERY_MS,
  afterJob,
  heartbeatDue,
  initialSchedule,
  jobDue,
  tickMs,
  type AnchorSchedule,
} from '../../src/watch/anchor-scheduler.js';
import { ANCHOR_RETRY_MS } from '../../src/watch/retry-policy.js';

const T = 1_700_000_000_000;
const idle = (over: Partial<AnchorSchedule> = {}): AnchorSchedule => ({
  wanted: false,
  retryAt: 0,
  upgradeAt: Infinity,
  lastHeartbeat: T,
  ...over,
});

test('a fresh daemon stamps and upgrades at its first tick', () => {
  assert.deepEqual(jobDue(initialSchedule(), T), { stamp: true, upgrade: true });
});

test('an idle daemon with nothing queued and no pending proof starts nothing', () => {
  assert.equal(jobDue(idle(), T), undefined);
  assert.equal(jobDue(idle(), T + 10 * UPGRADE_EVERY_MS), undefined);
});

test('queued commits are stamped when their retry time comes, not before', () => {
  const s = idle({ retryAt: T + 5000 });
  assert.equal(jobDue(s, T + 4999), undefined);
  assert.deepEqual(jobDue(s, T + 5000), { stamp: true, upgrade: false });
});

test('pending proofs are upgraded when due', () => {
  assert.deepEqual(jobDue(idle({ upgradeAt: T }), T), { stamp: false, upgrade: true });
});

test('after a stamp: nothing queued clears the retry; pending proofs are asked about within the hour', () => {
  const s = afterJob(
    idle(),
    { stamp: true, upgrade: false },
    { stamp: { outcome: 'stamped', stamped: 3, queued: 0, failed: [] } },
    T,
    300,
  );
  assert.equal(s.retryAt, 0);
  assert.equal(s.upgradeAt, T + UPGRADE_EVERY_MS);
  // An earlier upgrade time stays earlier.
  const earlier = afterJob(
    idle({ upgradeAt: T + 60_000 }),
    { stamp: true, upgrade: false },
    { stamp: { outcome: 'stamped', stamped: 1, queued: 0, failed: [] } },
    T,
    300,
  );
  assert.equal(earlier.upgradeAt, T + 60_000);
});

test("commits still queued are due at the calendars' next attempt, or after a batch window", () => {
  const failed = [{ url: 'http://127.0.0.1:1', error: 'refused' }];
  const withTime = afterJob(
    idle(),
    { stamp: true, upgrade: false },
    { stamp: { outcome: 'too-few-calendars', stamped: 0, queued: 4, nextAttemptAt: T + 120_000, failed } },
    T,
    300,
  );
  assert.equal(withTime.retryAt, T + 120_000);
  const without = afterJob(
    idle(),
    { stamp: true, upgrade: false },
    { stamp: { outcome: 'too-few-calendars', stamped: 0, queued: 4, failed } },
    T,
    300,
  );
  assert.equal(without.retryAt, T + 300_000);
});

test('a job that failed as a whole is tried again in five minutes', () => {
  const s = afterJob(idle(), { stamp: true, upgrade: false }, { error: 'damaged queue' }, T, 300);
  assert.equal(s.retryAt, T + ANCHOR_RETRY_MS);
  // An upgrade-only job that failed does not make a stamp due.
  const u = afterJob(idle({ upgradeAt: T }), { stamp: false, upgrade: true }, { error: 'x' }, T, 300);
  assert.equal(u.retryAt, 0);
  assert.equal(u.upgradeAt, T + UPGRADE_EVERY_MS);
});

test('upgrades stop once no proof is pending, and continue hourly while some are', () => {
  const done = afterJob(
    idle({ upgradeAt: T }),
    { stamp: false, upgrade: true },
    { upgrade: { upgraded: 2, pending: 0, problems: 0 } },
    T,
    300,
  );
  assert.equal(done.upgradeAt, Infinity);
  const more = afterJob(
    idle({ upgradeAt: T }),
    { stamp: false, upgrade: true },
    { upgrade: { upgraded: 0, pending: 2, problems: 0 } },
    T,
    300,
  );
  assert.equal(more.upgradeAt, T + UPGRADE_EVERY_MS);
});

test('a commit made while the job ran keeps the next stamp wanted', () => {
  const during = idle({ wanted: true });
  const s = afterJob(
    during,
    { stamp: true, upgrade: false },
    { stamp: { outcome: 'stamped', stamped: 1, queued: 0, failed: [] } },
    T,
    300,
  );
  assert.equal(s.wanted, true);
  assert.notEqual(s, during, 'a new schedule is returned, the old one is left as it was');
});

test('the scheduler looks once per batch window, at most once a minute; the heartbeat is hourly', () => {
  assert.equal(tickMs({ 'anchor.batchSeconds': 1 }), 1000);
  assert.equal(tickMs({ 'anchor.batchSeconds': 900 }), 60_000);
  assert.equal(tickMs({}), 60_000);
  assert.equal(heartbeatDue(idle({ lastHeartbeat: 0 }), T), true);
  assert.equal(heartbeatDue(idle({ lastHeartbeat: T - 3600_000 }), T), false);
  assert.equal(heartbeatDue(idle({ lastHeartbeat: T - 3600_001 }), T), true);
});
