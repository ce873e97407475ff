// The periodic jobs beside recording (the whole-tree reconcile and the heartbeat checkpoint)
// across reloads: SIGHUP, and every `trail config set` / `trail policy set`, reload the
// daemon. A reload must neither postpone nor skip the next run: settings applied more often
// than the interval (config management every 30 minutes, say) must not stop the periodic
// reconcile, nor the heartbeats an off-host witness counts on. Driven by a manual clock: no
// test sleeps for an interval, and none asserts how long anything took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reconciler } from '../../src/watch/reconciler.js';
import { Checkpointer } from '../../src/watch/checkpointer.js';
import type { WatchContext } from '../../src/watch/job.js';
import type { Config } from '../../src/record/repo/settings.js';
import { ManualClock } from '../support/manual-clock.js';
import { waitFor } from '../support/wait.js';

interface Rig {
  ctx: WatchContext;
  config: Config;
  logs: { event: string; msg: string; fields?: Record<string, unknown> }[];
}

/** A WatchContext whose writes are stand-ins: withLock answers `result()` without running the
 * write; serial is one queue, in order, as the RepoWatcher's. */
function rig(config: Config, result: () => unknown): Rig {
  const logs: Rig['logs'] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const r: Rig = {
    config,
    logs,
    ctx: {
      watched: {} as WatchContext['watched'],
      repo: {} as WatchContext['repo'],
      config: () => r.config,
      log: (_level, event, msg, fields) => void logs.push({ event, msg, fields }),
      withLock: (async () => result()) as WatchContext['withLock'],
      serial: <T>(fn: () => Promise<T>): Promise<T> => {
        const next = queue.then(fn);
        queue = next.catch(() => {});
        return next;
      },
      stopped: () => false,
    },
  };
  return r;
}

/** Lets the (stand-in) writes a timer started run through. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function reconcilerRig(seconds: number) {
  const clock = new ManualClock(0);
  const r = rig({ 'watch.reconcileSeconds': seconds }, () => ({ changes: [], commit: undefined }));
  let degraded = false;
  const rec = new Reconciler(r.ctx, {
    degraded: () => degraded,
    commitPending: async () => {},
    onCommit: () => {},
    now: clock.now,
    timers: clock.timers,
  });
  const runs = () => r.logs.filter((l) => l.event === 'reconcile').map((l) => String(l.fields?.why));
  return { clock, r, rec, runs, degrade: () => (degraded = true) };
}

test('reloads more often than watch.reconcileSeconds neither postpone nor skip the periodic reconcile', async () => {
  const { clock, rec, runs } = reconcilerRig(3600);
  rec.start();
  // A reload every 1000 s (config management), for 15000 s: the reconcile still runs every
  // 3600 s, at 3600, 7200, 10800 and 14400.
  for (let t = 1000; t <= 15000; t += 1000) {
    clock.advance(1_000_000);
    await settle();
    rec.reload();
  }
  assert.deepEqual(runs(), ['periodic', 'periodic', 'periodic', 'periodic']);
  rec.stop();
  assert.equal(clock.nextDue(), undefined, 'stop clears the timer');
});

test('a shorter watch.reconcileSeconds takes effect at a reload, counted from the last reconcile', async () => {
  const { clock, r, rec, runs } = reconcilerRig(3600);
  rec.start();
  clock.advance(1_000_000);
  r.config = { 'watch.reconcileSeconds': 600 };
  rec.reload(); // 1000 s since the last: overdue at once
  assert.equal(clock.nextDue(), clock.t);
  clock.advance(0);
  await settle();
  assert.deepEqual(runs(), ['periodic']);
  clock.advance(300_000);
  r.config = { 'watch.reconcileSeconds': 400 };
  rec.reload(); // 300 s since the last: due 100 s from now, not 400
  assert.equal(clock.nextDue(), clock.t + 100_000);
  clock.advance(100_000);
  await settle();
  assert.deepEqual(runs(), ['periodic', 'periodic']);
  // A longer one: due that long after the last run.
  r.config = { 'watch.reconcileSeconds': 3600 };
  rec.reload();
  assert.equal(clock.nextDue(), clock.t + 3_600_000);
  rec.stop();
});

test('the watch limit reached: one reconcile at once, the next a degraded interval after it, not straight after', async () => {
  const { clock, rec, runs, degrade } = reconcilerRig(3600);
  rec.start();
  clock.advance(3000_000);
  // What the RepoWatcher does when the source loses its watches: ask for a look, then reload.
  degrade();
  rec.request('watch limit reached');
  rec.reload();
  await settle();
  clock.advance(59_000);
  await settle();
  assert.deepEqual(runs(), ['watch limit reached'], 'not a second one straight after the first');
  clock.advance(1000);
  await settle();
  assert.deepEqual(runs(), ['watch limit reached', 'no event source']);
  rec.stop();
});

function checkpointerRig(seconds: number) {
  const clock = new ManualClock(0);
  let seq = 0;
  const r = rig({ 'remote.checkpointSeconds': seconds }, () => ({
    record: { seq: ++seq, reason: seq === 1 ? 'start' : 'heartbeat', window: undefined },
  }));
  const written: number[] = [];
  const cp = new Checkpointer(r.ctx, {
    lastSerial: () => null,
    written: () => void written.push(clock.t),
    now: clock.now,
    timers: clock.timers,
  });
  /** A timer fired: its checkpoint (auditctl -s is asked, a real process) is written and the
   * next one armed — waited for as a state, never timed. */
  const armed = (what: string) => waitFor(what, () => clock.nextDue() !== undefined);
  return { clock, r, cp, written, armed };
}

test('reloads more often than remote.checkpointSeconds still let a heartbeat be written every interval', async () => {
  const { clock, cp, written, armed } = checkpointerRig(300);
  await cp.start();
  assert.deepEqual(written, [0], 'the start checkpoint');
  // A reload every 200 s for 1500 s: heartbeats at 300, 600, 900, 1200 and 1500 s.
  for (let t = 100; t <= 1500; t += 100) {
    clock.advance(100_000);
    await armed(`the heartbeat timer armed at ${clock.t} ms`);
    if (t % 200 === 0) cp.reload();
  }
  assert.deepEqual(written, [0, 300_000, 600_000, 900_000, 1_200_000, 1_500_000]);
  cp.stop();
  assert.equal(clock.nextDue(), undefined, 'stop clears the timer');
});

test('a shorter remote.checkpointSeconds takes effect at a reload, counted from the last checkpoint', async () => {
  const { clock, r, cp, written, armed } = checkpointerRig(300);
  await cp.start();
  clock.advance(100_000);
  r.config = { 'remote.checkpointSeconds': 60 };
  cp.reload(); // 100 s since the last: overdue at once
  assert.equal(clock.nextDue(), clock.t);
  clock.advance(0);
  await armed('the next heartbeat armed');
  assert.deepEqual(written, [0, 100_000]);
  assert.equal(clock.nextDue(), 160_000, 'then every 60 s');
  clock.advance(30_000);
  r.config = { 'remote.checkpointSeconds': 45 };
  cp.reload(); // 30 s since the last: due in 15 s
  assert.equal(clock.nextDue(), 145_000);
  cp.stop();
});
