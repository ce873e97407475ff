import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { FULL_EVERY_MS, SMALL_PREFIX, fullReadNeeded } from '../../src/logs/tracker.js';

const T = 1_700_000_000_000;
const big = SMALL_PREFIX * 4;
const g = { length: big, sha256: 'a'.repeat(64) };
const live = { length: big, sha256: 'a'.repeat(64), fullAt: T - 1000, ctimeMs: 5 };

test('a big growing log with a running hash reads only what was appended', () => {
  assert.equal(fullReadNeeded(live, g, { size: big + 100, ctimeMs: 6 }, T, false), false);
  // Nothing written since: nothing to re-read either.
  assert.equal(fullReadNeeded(live, g, { size: big, ctimeMs: 5 }, T, false), false);
});

test('every byte is read again when anything says the prefix may have changed', () => {
  assert.equal(fullReadNeeded(undefined, g, { size: big + 1, ctimeMs: 6 }, T, false), true, 'a fresh process');
  assert.equal(fullReadNeeded(live, g, { size: big + 1, ctimeMs: 6 }, T, true), true, 'asked to');
  assert.equal(fullReadNeeded({ ...live, length: big - 1 }, g, { size: big, ctimeMs: 6 }, T, false), true);
  assert.equal(fullReadNeeded(live, g, { size: big - 1, ctimeMs: 6 }, T, false), true, 'shorter');
  assert.equal(fullReadNeeded(live, g, { size: big, ctimeMs: 6 }, T, false), true, 'written, not grown');
  assert.equal(
    fullReadNeeded({ ...live, fullAt: T - FULL_EVERY_MS }, g, { size: big + 1, ctimeMs: 6 }, T, false),
    true,
    'an hour since the last full read',
  );
  const small = { length: 1000, sha256: g.sha256 };
  assert.equal(fullReadNeeded({ ...live, length: 1000 }, small, { size: 2000, ctimeMs: 6 }, T, false), true);
});
