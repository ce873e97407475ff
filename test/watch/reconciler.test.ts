import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { foundLevel, periodicReason, reconcileSeconds } from '../../src/watch/reconciler.js';
import { needsNewSource, sourceKind } from '../../src/watch/source-keeper.js';
import { makeRules } from '../../src/record/list/rules.js';

test('the whole directory is compared every watch.reconcileSeconds, at least every minute without events', () => {
  assert.equal(reconcileSeconds({}, false), 3600);
  assert.equal(reconcileSeconds({ 'watch.reconcileSeconds': 600 }, false), 600);
  assert.equal(reconcileSeconds({ 'watch.reconcileSeconds': 600 }, true), 60);
  assert.equal(reconcileSeconds({ 'watch.reconcileSeconds': 20 }, true), 20);
});

test('what a reconcile says: expected without a source, a warning when events missed something', () => {
  assert.equal(periodicReason(true), 'no event source');
  assert.equal(periodicReason(false), 'periodic');
  assert.equal(foundLevel(true), 'info');
  assert.equal(foundLevel(false), 'warning');
});

test('a reload replaces the source only when it must', () => {
  const base = { 'watch.source': 'auto', ignore: ['*.bak'], 'watch.quietMs': 300 };
  assert.equal(needsNewSource(base, { ...base, 'watch.quietMs': 500 }, false), false);
  assert.equal(needsNewSource(base, { ...base }, true), true, 'the watch limit may have been raised');
  assert.equal(needsNewSource(base, { ...base, ignore: ['*.bak', 'cache/**'] }, false), true);
  assert.equal(needsNewSource(base, { ...base, 'watch.source': 'chokidar' }, false), true);
  // With the scan's rules, the policy's count: a `record` rule can make an ignored path watched.
  const plain = makeRules(['*.bak'], [], [], []);
  const recorded = makeRules(['*.bak'], [], [{ paths: ['important.bak'], class: 'record' }], []);
  assert.equal(needsNewSource(base, base, false, [plain, recorded]), true);
  // A new secret changes what is recorded, not what is watched.
  assert.equal(needsNewSource(base, base, false, [plain, makeRules(['*.bak'], ['app.conf'], [], [])]), false);
});

test('inotify on Linux, chokidar where asked or elsewhere', () => {
  assert.equal(sourceKind('auto', 'linux'), 'inotify');
  assert.equal(sourceKind('auto', 'darwin'), 'chokidar');
  assert.equal(sourceKind('chokidar', 'linux'), 'chokidar');
  assert.equal(sourceKind('inotify', 'linux'), 'inotify');
});
