import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { IDLE_FLUSH_MS, housekeepingDueIn } from '../../src/watch/housekeeping.js';
import { auditWanted, backlogLimit } from '../../src/watch/audit-setup.js';

const T = 1_700_000_000_000;

test('housekeeping waits for quiet after commits, and never runs for a daemon that made none', () => {
  assert.equal(housekeepingDueIn({ dirty: false, lastCommitAt: 0 }, T), undefined);
  assert.equal(housekeepingDueIn({ dirty: true, lastCommitAt: T }, T), IDLE_FLUSH_MS);
  assert.equal(housekeepingDueIn({ dirty: true, lastCommitAt: T - 2000 }, T), IDLE_FLUSH_MS - 2000);
  assert.equal(housekeepingDueIn({ dirty: true, lastCommitAt: T - IDLE_FLUSH_MS }, T), 0);
  assert.equal(housekeepingDueIn({ dirty: true, lastCommitAt: T - 60_000 }, T), 0);
});

test('audit is set up unless every watched directory turned it off, with the largest backlog asked for', () => {
  assert.equal(auditWanted([]), true);
  assert.equal(auditWanted([{ 'attribute.audit': 'off' }, {}]), true);
  assert.equal(auditWanted([{ 'attribute.audit': 'off' }, { 'attribute.audit': 'off' }]), false);
  assert.equal(backlogLimit([]), 0);
  assert.equal(backlogLimit([{}, { 'attribute.backlogLimit': 32768 }]), 32768);
  assert.equal(backlogLimit([{ 'attribute.backlogLimit': 100 }]), 100);
});
