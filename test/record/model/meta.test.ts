import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  metaLine,
  parseManifest,
  parseMetaLine,
  recordedAs,
  serializeManifest,
  splitDev,
  sameMeta,
  type Meta,
} from '../../../src/record/model/meta.js';

test('a manifest reads back exactly what was written', () => {
  const self: Meta = { kind: 'dir', mode: 0o755, uid: 0, gid: 0, user: 'root', group: 'root' };
  const children: [string, Meta][] = [
    [
      'b\nnew\xe9line',
      {
        kind: 'file',
        mode: 0o4755,
        uid: 1000,
        gid: 33,
        size: 12,
        mtime: 1732600000123.456,
        xattrs: { 'user.a': 'dmFs' },
      },
    ],
    ['a', { kind: 'char', mode: 0o666, uid: 0, gid: 0, rdev: [1, 3] }],
    ['s', { kind: 'file', mode: 0o600, uid: 0, gid: 42, secret: 'hmac-sha256:' + 'ab'.repeat(32), link: 'x/y' }],
  ];
  const back = parseManifest(serializeManifest(self, children));
  assert.deepEqual(back.self, self);
  assert.deepEqual(
    back.children,
    [...children].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
  );
});

test('mtime alone is not a change; mode, owner, xattrs are', () => {
  const a: Meta = { kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1 };
  assert.ok(sameMeta(a, { ...a, mtime: 2 }));
  assert.ok(!sameMeta(a, { ...a, mode: 0o600 }));
  assert.ok(!sameMeta(a, { ...a, uid: 1 }));
  assert.ok(!sameMeta(a, { ...a, xattrs: { 'user.x': 'eA==' } }));
});

test('device numbers split as glibc does', () => {
  assert.deepEqual(splitDev(0x0103), [1, 3]);
  assert.deepEqual(splitDev((8 << 8) | 17), [8, 17]);
  assert.deepEqual(splitDev(((259 & 0xfff) << 8) | (5 & 0xff) | ((5 & ~0xff) << 12)), [259, 5]);
});

test('recordedAs reads kind, digest and secret from an unparsed line exactly as from the Meta', () => {
  const tricky = ',"secret":"x","digest":"y",{"name":"","kind":"file"';
  const metas: Meta[] = [
    { kind: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 1 },
    { kind: 'file', mode: 0o644, uid: 0, gid: 0, digest: 'sha256:' + 'a'.repeat(64) },
    { kind: 'file', mode: 0o600, uid: 0, gid: 0, secret: 'hmac-sha256:' + 'b'.repeat(64) },
    { kind: 'file', mode: 0o644, uid: 0, gid: 0, link: `other${tricky}`, skipped: `cannot read${tricky}` },
    { kind: 'file', mode: 0o644, uid: 0, gid: 0, user: tricky, group: tricky, xattrs: { [`user.${tricky}`]: 'eA==' } },
    { kind: 'dir', mode: 0o755, uid: 0, gid: 0 },
    { kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 2 },
    { kind: 'char', mode: 0o666, uid: 0, gid: 0, rdev: [1, 3] },
  ];
  for (const meta of metas) {
    const line = metaLine('', meta);
    assert.deepEqual(recordedAs({ meta, line }), recordedAs({ meta }), line);
    assert.deepEqual(recordedAs({ meta: parseMetaLine(line).meta, line }), recordedAs({ meta }), line);
  }
});
