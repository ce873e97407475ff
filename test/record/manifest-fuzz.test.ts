// A manifest can arrive from outside (a pull request's tree, a damaged repository): parsing
// must either give entries or throw a plain error — and what was written reads back exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest, serializeManifest, type Meta } from '../../src/record/meta.js';

const name = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0x2f || b === 0 ? 0x5f : b))).toString('latin1')).filter((n) => n !== '.');
const meta: fc.Arbitrary<Meta> = fc.record({
  kind: fc.constantFrom('file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block') as fc.Arbitrary<Meta['kind']>,
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: fc.integer({ min: 0, max: 2 ** 32 - 2 }),
  gid: fc.integer({ min: 0, max: 2 ** 32 - 2 }),
  user: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  mtime: fc.option(fc.double({ min: 0, max: 4e12, noNaN: true }), { nil: undefined }),
  xattrs: fc.option(fc.dictionary(fc.stringMatching(/^user\.[a-z]{1,8}$/), fc.base64String({ maxLength: 40 })), { nil: undefined }),
}, { requiredKeys: ['kind', 'mode', 'uid', 'gid'] });

test('any manifest reads back exactly as written', () => {
  fc.assert(fc.property(meta, fc.uniqueArray(fc.tuple(name, meta), { selector: (x) => x[0], maxLength: 12 }), (self, children) => {
    // An empty xattr set is the same as none, and is written as none.
    const clean = (m: Meta) => {
      const c = JSON.parse(JSON.stringify(m)) as Meta;
      if (c.xattrs && !Object.keys(c.xattrs).length) delete c.xattrs;
      return c;
    };
    const back = parseManifest(serializeManifest(self, children));
    assert.deepEqual(back.self, clean(self));
    assert.deepEqual(back.children, [...children].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([n, m]) => [n, clean(m)]));
  }), { numRuns: 500 });
});

test('garbage manifests fail with an ordinary error, never hang or crash the process', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
    try {
      parseManifest(Buffer.from(bytes));
    } catch (err) {
      assert.ok(err instanceof Error);
    }
  }), { numRuns: 2000 });
});
