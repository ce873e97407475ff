// A manifest can arrive from outside (a pull request's tree, a damaged repository): parsing
// must either give entries or throw a plain error — and what was written reads back exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest, serializeManifest, type Meta } from '../../../src/record/model/meta.js';

const name = fc
  .uint8Array({ minLength: 1, maxLength: 40 })
  .map((a) => Buffer.from(a.map((b) => (b === 0x2f || b === 0 ? 0x5f : b))).toString('latin1'))
  .filter((n) => n !== '.');
const meta: fc.Arbitrary<Meta> = fc.record(
  {
    kind: fc.constantFrom('file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block') as fc.Arbitrary<Meta['kind']>,
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.integer({ min: 0, max: 2 ** 32 - 2 }),
    gid: fc.integer({ min: 0, max: 2 ** 32 - 2 }),
    user: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    mtime: fc.option(fc.double({ min: 0, max: 4e12, noNaN: true }), { nil: undefined }),
    xattrs: fc.option(fc.dictionary(fc.stringMatching(/^user\.[a-z]{1,8}$/), fc.base64String({ maxLength: 40 })), {
      nil: undefined,
    }),
  },
  { requiredKeys: ['kind', 'mode', 'uid', 'gid'] },
);

test('any manifest reads back exactly as written', () => {
  fc.assert(
    fc.property(
      meta,
      fc.uniqueArray(fc.tuple(name, meta), { selector: (x) => x[0], maxLength: 12 }),
      (self, children) => {
        // An empty xattr set is the same as none, and is written as none.
        const clean = (m: Meta) => {
          const c = JSON.parse(JSON.stringify(m)) as Meta;
          if (c.xattrs && !Object.keys(c.xattrs).length) delete c.xattrs;
          return c;
        };
        const back = parseManifest(serializeManifest(self, children));
        assert.deepEqual(back.self, clean(self));
        assert.deepEqual(
          back.children,
          [...children].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([n, m]) => [n, clean(m)]),
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('garbage manifests fail with an ordinary error, never hang or crash the process', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        parseManifest(Buffer.from(bytes));
      } catch (err) {
        assert.ok(err instanceof Error);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a tree whose manifest names "../x" is refused before anything is restored', async (t) => {
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { trail, initTrail, git } = await import('../../support/cli.js');
  const { tmp, home, repo, commit: head } = await initTrail(t, { a: 'a\n' });
  // Forge a commit whose top manifest lists "../escaped" with the content of "a".
  const manifest = git(repo, ['cat-file', 'blob', `${head}:.trail/meta/@meta`])
    .stdout.toString()
    .replace('"name":"a"', '"name":"../escaped"');
  const blob = git(repo, ['hash-object', '-w', '--stdin'], manifest).stdout.toString().trim();
  const metaTree = git(repo, ['mktree'], `100644 blob ${blob}\t@meta\n`).stdout.toString().trim();
  const fmt = git(repo, ['rev-parse', `${head}:.trail/FORMAT`])
    .stdout.toString()
    .trim();
  const trailTree = git(repo, ['mktree'], `100644 blob ${fmt}\tFORMAT\n040000 tree ${metaTree}\tmeta\n`)
    .stdout.toString()
    .trim();
  const a = git(repo, ['rev-parse', `${head}:a`])
    .stdout.toString()
    .trim();
  const root = git(repo, ['mktree'], `040000 tree ${trailTree}\t.trail\n100644 blob ${a}\ta\n`)
    .stdout.toString()
    .trim();
  const evil = git(repo, ['-c', 'user.name=x', '-c', 'user.email=x@x', 'commit-tree', root, '-p', head, '-m', 'evil'])
    .stdout.toString()
    .trim();
  const r = await trail(home, ['revert', evil]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not a plain name/);
  assert.equal(existsSync(join(tmp, 'escaped')), false);
});
