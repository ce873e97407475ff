// The inotify source against the real kernel: what it says when its queue overflows.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeRules } from '../../src/record/list/rules.js';
import { DirSource } from '../../src/watch/dir-source.js';
import { waitFor } from '../support/wait.js';

function source(root: string) {
  const touched = new Set<string>();
  const lost: string[] = [];
  const src = new DirSource({
    root,
    rules: makeRules([], []),
    events: {
      touched: (paths) => paths.forEach((p) => touched.add(p)),
      lost: (reason) => lost.push(reason),
      limit: (err) => assert.fail(err.message),
    },
  });
  return { src, touched, lost };
}

test('an overflowing inotify queue is said as missed events (libuv drops IN_Q_OVERFLOW), and only then', async (t) => {
  const limit = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'latin1').trim());
  if (limit > 200_000) return t.skip(`fs.inotify.max_queued_events is ${limit} here: too many files to overflow it`);
  const root = mkdtempSync(join(tmpdir(), 'trail-dirsource-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'a'));
  mkdirSync(join(root, 'b'));
  const { src, touched, lost } = source(root);
  await src.start();
  t.after(() => src.close());

  // An ordinary burst, read as it comes: no alarm.
  // (The check runs in a timer: the turn that delivered an event has ended by then, and with
  // it the count of that turn.)
  for (let i = 0; i < 200; i++) writeFileSync(join(root, 'a', `small${i}`), 'x');
  await waitFor('the burst seen', () => touched.has('a/small199'), 30_000);
  assert.deepEqual(lost, []);

  // This thread writes synchronously, so nothing reads the queue meanwhile: it overflows, and
  // the event for b/late (written last) is dropped by the kernel.
  for (let i = 0; i <= limit; i++) writeFileSync(join(root, 'a', `f${i}`), 'x');
  writeFileSync(join(root, 'b', 'late'), 'y');
  await waitFor('the overflow said', () => lost.length > 0, 30_000);
  assert.ok(!touched.has('b/late'), 'the kernel kept the event past its queue: this test shows nothing');
  assert.equal(lost.length, 1, `one alarm for the run, got: ${JSON.stringify(lost)}`);
  assert.match(lost[0]!, /inotify events arrived at once, against a kernel queue of \d+ .*may have overflowed/);

  // The source goes on after it.
  writeFileSync(join(root, 'b', 'after'), 'z');
  await waitFor('an event after it', () => touched.has('b/after'), 30_000);
  assert.equal(lost.length, 1);
});
