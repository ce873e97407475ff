// insideAny answers what comparing with each root answered, for any paths and roots (a few
// roots take the prefix path, more the set of ancestors).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { insideAny } from '../../../src/record/list/roots.js';

const naive = (roots: string[]) => (p: string) => roots.some((r) => r === '' || p === r || p.startsWith(r + '/'));
const segment = fc.constantFrom('a', 'b', 'a-b', 'a.b', 'ab', '\xff', 'x y');
const path = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => s.join('/'));

test('the same answers as a comparison with each root', () => {
  fc.assert(
    fc.property(fc.array(path, { maxLength: 14 }), fc.array(path, { maxLength: 20 }), (roots, paths) => {
      const fast = insideAny(roots);
      const slow = naive(roots);
      for (const p of paths) assert.equal(fast(p), slow(p), `${JSON.stringify(p)} in ${JSON.stringify(roots)}`);
    }),
    { numRuns: 2000 },
  );
  // A sibling sharing a prefix is not inside.
  assert.equal(insideAny(['a'])('a-b/c'), false);
  assert.equal(insideAny(['a'])('a/c'), true);
  assert.equal(insideAny([])('a'), false);
});
