// The secrets a recorded state holds (what a copy of one is compared with) must be the same
// whether the state is a plain map or a window's layered state over one, after any run of
// changes and windows; and a layered state must not walk its base again for them: trail watch
// asks once per commit, and a walk of a 200k-path state on every commit grows with the tree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LayeredState } from '../../../src/record/model/layered.js';
import type { Entry, State } from '../../../src/record/model/state.js';
import { recordedSecrets } from '../../../src/record/read/secret-copies.js';

const plain = (n: number): Entry => ({ meta: { kind: 'file', mode: 0o644, uid: 0, gid: 0, size: n } });
const secret = (n: number, copy = false): Entry => ({
  meta: {
    kind: 'file',
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: 10 + n,
    secret: `hmac-sha256:${n}`,
    ...(copy ? { secretCopy: true as const } : {}),
  },
});
const pathOf = (i: number) => `d${i % 3}/f${i}`;

/** A map that counts the walks over it. */
class Counted extends Map<string, Entry> {
  walks = 0;
  override *entries(): MapIterator<[string, Entry]> {
    this.walks++;
    yield* super.entries();
  }
  override [Symbol.iterator](): MapIterator<[string, Entry]> {
    return this.entries();
  }
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('plain' as const), i: fc.nat(30), v: fc.nat(5) }),
  fc.record({ kind: fc.constant('secret' as const), i: fc.nat(30), v: fc.nat(5), copy: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), i: fc.nat(30) }),
  fc.record({ kind: fc.constant('window' as const) }),
);

test('secret copies: a layered state carries its base’s recorded secrets forward, walking the base once', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const base = new Counted();
      for (let i = 0; i < 30; i += 2) base.set(pathOf(i), i % 4 ? plain(i) : secret(i));
      const expected = new Map(base);
      base.walks = 0;
      let state: State = LayeredState.over(base as State);
      for (const o of ops) {
        if (o.kind === 'window') {
          // What trail watch does at each commit: the recorded state's secrets asked, then a
          // new window over it.
          assert.deepEqual(recordedSecrets(state), recordedSecrets(new Map(expected)));
          state = LayeredState.over(state, 1 << 20);
        } else if (o.kind === 'delete') {
          state.delete(pathOf(o.i));
          expected.delete(pathOf(o.i));
        } else {
          const e = o.kind === 'plain' ? plain(o.v) : secret(o.v, o.copy);
          state.set(pathOf(o.i), e);
          expected.set(pathOf(o.i), e);
        }
      }
      assert.deepEqual(recordedSecrets(state), recordedSecrets(new Map(expected)));
      assert.equal(base.walks, 1, 'the base is walked once, whatever the windows over it');
    }),
  );
});
