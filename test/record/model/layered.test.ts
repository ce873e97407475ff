// A layered state (the scan's start under roots, without copying the recorded state) must be
// a Map like any other to every caller: the same answers as a plain copy after any run of
// changes, across windows (a layered state over a layered state) and flattening, and the
// state it started from left exactly as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LayeredState } from '../../../src/record/model/layered.js';
import type { Entry, State } from '../../../src/record/model/state.js';

const entry = (n: number): Entry => ({
  meta: { kind: 'file', mode: 0o644, uid: 0, gid: 0 },
  oid: n.toString(16).padStart(40, '0'),
});
const pathOf = (i: number) => `d${i % 3}/f${i}`;

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), i: fc.nat(40), v: fc.nat(5) }),
  fc.record({ kind: fc.constant('reuse' as const), i: fc.nat(40) }),
  fc.record({ kind: fc.constant('delete' as const), i: fc.nat(40) }),
  fc.record({ kind: fc.constant('clear' as const) }),
  fc.record({ kind: fc.constant('window' as const) }),
);

function same(actual: State, expected: Map<string, Entry>): void {
  assert.equal(actual.size, expected.size);
  assert.deepEqual(new Set(actual.keys()), new Set(expected.keys()));
  for (const [k, v] of expected) {
    assert.equal(actual.get(k), v, k);
    assert.equal(actual.has(k), true);
  }
  for (let i = 0; i <= 40; i++) if (!expected.has(pathOf(i))) assert.equal(actual.has(pathOf(i)), false);
  const seen: string[] = [];
  actual.forEach((v, k) => {
    seen.push(k);
    assert.equal(v, expected.get(k));
  });
  assert.equal(seen.length, expected.size);
  assert.deepEqual([...actual.values()].length, expected.size);
  assert.deepEqual(new Map(actual), expected);
}

test('a layered state answers as a plain copy would, and never changes what it started from', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(40), { maxLength: 30 }),
      fc.array(op, { maxLength: 60 }),
      fc.integer({ min: 1, max: 8 }),
      (start, ops, flattenAt) => {
        const entries = new Map<number, Entry>();
        const e = (v: number) => entries.get(v) ?? (entries.set(v, entry(v)), entries.get(v)!);
        const base: State = new Map(start.map((i) => [pathOf(i), e(100 + i)]));
        const frozen = new Map(base);
        let layered = LayeredState.over(base, flattenAt);
        let model = new Map(base);
        const before: { state: State; copy: Map<string, Entry> }[] = [];
        for (const o of ops) {
          if (o.kind === 'set') {
            layered.set(pathOf(o.i), e(o.v));
            model.set(pathOf(o.i), e(o.v));
          } else if (o.kind === 'reuse') {
            // The scan puts back the very entry the recorded state had.
            const was = base.get(pathOf(o.i));
            if (was) {
              layered.set(pathOf(o.i), was);
              model.set(pathOf(o.i), was);
            }
          } else if (o.kind === 'delete') {
            assert.equal(layered.delete(pathOf(o.i)), model.delete(pathOf(o.i)));
          } else if (o.kind === 'clear') {
            layered.clear();
            model.clear();
          } else {
            // Next window: a layered state over this one, which must stay as it is.
            before.push({ state: layered, copy: new Map(model) });
            layered = LayeredState.over(layered, flattenAt);
            model = new Map(model);
          }
          same(layered, model);
        }
        assert.deepEqual(base, frozen);
        for (const b of before) same(b.state, b.copy);
      },
    ),
    { numRuns: 300 },
  );
});

test('a long run of windows does not grow a chain: the layer is flattened into a new base', () => {
  const base: State = new Map(Array.from({ length: 50 }, (_, i) => [pathOf(i), entry(i)]));
  let s = LayeredState.over(base, 4);
  for (let i = 0; i < 20; i++) {
    s.set(pathOf(i), entry(1000 + i));
    s = LayeredState.over(s, 4);
    assert.ok(s.layered < 5, `layer of ${s.layered} paths after window ${i}`);
  }
  assert.notEqual(s.base, base);
  assert.equal(s.get(pathOf(19))!.oid, entry(1019).oid);
  assert.equal(base.get(pathOf(19))!.oid, entry(19).oid);
});

test('a layered set answers as a plain copy would, and never changes the set it started from', async () => {
  const { LayeredSet } = await import('../../../src/record/model/layered.js');
  fc.assert(
    fc.property(
      fc.array(fc.nat(50), { maxLength: 30 }),
      fc.array(fc.oneof(fc.nat(80), fc.constant(-1)), { maxLength: 80 }),
      fc.integer({ min: 1, max: 8 }),
      (start, ops, flattenAt) => {
        const base = new Set(start);
        const frozen = new Set(base);
        let layered = LayeredSet.over(base, flattenAt);
        let model = new Set(base);
        const before: { set: Set<number>; copy: Set<number> }[] = [];
        for (const o of ops) {
          if (o === -1) {
            // the next commit: a layer over this one's
            before.push({ set: layered, copy: new Set(model) });
            layered = LayeredSet.over(layered, flattenAt);
            model = new Set(model);
          } else {
            layered.add(o);
            model.add(o);
          }
          assert.equal(layered.size, model.size);
          assert.deepEqual(new Set(layered), model);
          for (let v = 0; v <= 80; v++) assert.equal(layered.has(v), model.has(v));
        }
        assert.deepEqual(base, frozen);
        for (const b of before) assert.deepEqual(new Set(b.set), b.copy, 'an earlier layer is left as it was');
      },
    ),
    { numRuns: 300 },
  );
});
