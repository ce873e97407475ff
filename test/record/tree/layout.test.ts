import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { contentName, metaName, unescapeContentName, unescapeMetaName } from '../../../src/record/tree/layout.js';

test('reserved names are escaped and the escape is undone exactly', () => {
  for (const n of [
    '.git',
    '.GIT',
    'git~1',
    '.git~',
    '.git~~',
    '.trail',
    '.trail~',
    '@meta',
    '@meta~',
    'normal',
    '.gitignore',
  ]) {
    for (const root of [true, false]) assert.equal(unescapeContentName(contentName(n, root), root), n);
    assert.equal(unescapeMetaName(metaName(n)), n);
  }
  assert.equal(contentName('.git', false), '.git~');
  assert.equal(contentName('.trail', true), '.trail~');
  assert.equal(contentName('.trail', false), '.trail');
  assert.equal(metaName('@meta'), '@meta~');
  assert.equal(contentName('.gitignore', true), '.gitignore');
});

test('escaping is a bijection on arbitrary names', () => {
  const name = fc.stringMatching(/^[.@a-zA-Z~]{1,8}$/);
  fc.assert(
    fc.property(
      name,
      fc.boolean(),
      (n, root) => unescapeContentName(contentName(n, root), root) === n && unescapeMetaName(metaName(n)) === n,
    ),
  );
  // Two different names never map to one tree entry.
  fc.assert(fc.property(name, name, (a, b) => a === b || contentName(a, true) !== contentName(b, true)));
});
