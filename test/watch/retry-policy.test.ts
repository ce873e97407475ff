import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { commitRetryDelayMs, failureReason } from '../../src/watch/retry-policy.js';

test('a failed window is retried after 1, 2, 4, 8, 16 s, then every 30 s', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50].map(commitRetryDelayMs),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
  );
  // A count that was never incremented is treated as the first failure, not as half a second.
  assert.equal(commitRetryDelayMs(0), 1000);
});

test('a full disk is named as such; other failures keep their message', () => {
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const quota = Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' });
  assert.equal(failureReason(full), 'no space left for the shadow repository');
  assert.equal(failureReason(quota), 'no space left for the shadow repository');
  assert.equal(failureReason(new Error('the lock is busy')), 'the lock is busy');
  assert.equal(failureReason('plain'), 'plain');
});
