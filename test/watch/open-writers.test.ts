// The writers audit saw open a file for writing (mmap writes make no inotify event): each
// path is followed while one of its writers lives, looked at again now and then, and once
// more when the last is gone; then it is forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpenWriters } from '../../src/watch/open-writers.js';
import type { WatchContext } from '../../src/watch/job.js';

test('open writers: followed while alive, looked at every fifth tick and when gone, then forgotten', () => {
  const living = new Set([10, 11]);
  const looked: string[][] = [];
  const ctx = { stopped: () => false, log: () => {} } as unknown as WatchContext;
  const w = new OpenWriters(
    ctx,
    (p) => looked.push(p),
    (pid) => living.has(pid),
  );
  try {
    w.opened('a.conf', 10);
    w.opened('a.conf', 11);
    w.opened('b.conf', 11);
    assert.deepEqual(w.paths().sort(), ['a.conf', 'b.conf']);
    for (let i = 0; i < 4; i++) w.tick();
    assert.equal(looked.length, 0, 'nothing to look at while they live, before the fifth tick');
    w.tick();
    assert.deepEqual(looked.pop()!.sort(), ['a.conf', 'b.conf']);
    living.delete(11);
    w.tick();
    assert.deepEqual(looked.pop(), ['b.conf'], 'b.conf: its only writer is gone');
    assert.deepEqual(w.paths(), ['a.conf'], 'a.conf: pid 10 still writes');
    living.delete(10);
    w.tick();
    assert.deepEqual(looked.pop(), ['a.conf']);
    assert.deepEqual(w.paths(), []);
    w.tick();
    assert.equal(looked.length, 0);
  } finally {
    w.stop();
  }
});
