// The ref registry: every ref trail writes is named once, and what is not published is under
// the prefix the push refuses, so a local ref (secret bytes, command lines) cannot leave.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLocalOnly, LOCAL_PREFIX, PUBLISHED_REFS, Refs, remoteNames } from '../../src/util/refs.js';

test('every ref is named once, in full', () => {
  const all = Object.values(Refs);
  assert.equal(new Set(all).size, all.length, 'two names for one ref');
  for (const ref of all) assert.match(ref, /^refs\/(heads|notes|trail)\/[a-z0-9/-]+$/, ref);
});

test('every ref that is not published is one the push refuses', () => {
  for (const ref of PUBLISHED_REFS) assert.ok(Object.values(Refs).includes(ref as never), `${ref} is not in Refs`);
  for (const ref of Object.values(Refs).filter((r) => !PUBLISHED_REFS.includes(r)))
    assert.ok(isLocalOnly(ref) && ref.startsWith(LOCAL_PREFIX), `${ref} is neither published nor refused by the push`);
  // The published branches of the README's Formats, and the notes; logs and access are still
  // refused by the push (their push is not written yet), the others are sent.
  assert.deepEqual(PUBLISHED_REFS.filter((r) => !isLocalOnly(r)).sort(), [
    'refs/heads/approved',
    'refs/heads/checkpoints',
    'refs/heads/observed',
    'refs/heads/proofs',
    'refs/notes/trail-ots',
  ]);
  assert.deepEqual(PUBLISHED_REFS.filter(isLocalOnly).sort(), ['refs/trail/access', 'refs/trail/logs']);
  assert.equal(isLocalOnly(Refs.secrets), true);
});

test('the names on the review remote sit under the host prefix', () => {
  const r = remoteNames('trail/web1/etc');
  assert.deepEqual(r, {
    observed: 'trail/web1/etc/observed',
    approved: 'trail/web1/etc/approved',
    reviewPrefix: 'trail/web1/etc/review/',
    notes: 'refs/notes/trail/web1/etc/ots',
  });
});
