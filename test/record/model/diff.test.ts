// diffStates against a state read back from the stat cache: an entry whose metadata make the
// very line it was recorded with, and whose blob is the same, is unchanged without parsing
// that line; any other goes through the field-by-field comparison. Both must say the same.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { loadCache, saveCache } from '../../../src/record/model/stat-cache.js';
import { diffStates } from '../../../src/record/model/diff.js';
import type { Repo } from '../../../src/record/repo/repo.js';
import type { Entry, State } from '../../../src/record/model/state.js';
import type { Meta } from '../../../src/record/model/meta.js';

const dir = mkdtempSync(join(tmpdir(), 'trail-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const repo = { gitDir: dir, stateDir: dir } as unknown as Repo;
const HEAD = 'a'.repeat(40);
const OLD = Date.now() - 3_600_000;

const file = (i: number): Entry => ({
  meta: { kind: 'file', mode: 0o644, uid: 0, gid: 0, user: 'root', group: 'root', size: 10, mtime: OLD + i },
  oid: String(i).padStart(40, '0'),
  stat: { dev: 1, ino: 100 + i, size: 10, mtimeMs: OLD + i, ctimeMs: OLD + i },
});

/** What a fresh scan would make of entry `i`, changed by `change`. */
const variants: [string, (e: Entry) => void, string | undefined][] = [
  ['as recorded', () => {}, undefined],
  ['other content', (e) => (e.oid = 'f'.repeat(40)), 'modified'],
  ['chmod', (e) => (e.meta.mode = 0o600), 'metadata mode 0644 → 0600'],
  ['chown', (e) => ((e.meta.uid = 1000), (e.meta.user = 'alice')), 'metadata owner root → alice'],
  ['xattr added', (e) => (e.meta.xattrs = { 'user.x': 'eA==' }), 'metadata xattr user.x added'],
  ['now a secret', (e) => (e.meta.secret = 'hmac-sha256:' + 'c'.repeat(64)), 'modified'],
  [
    'skipped now',
    (e) => (e.meta.skipped = 'cannot read: permission denied'),
    'metadata skipped: cannot read: permission denied',
  ],
  // Touched: the line differs (mtime), but nothing compared differs: no change.
  ['touched', (e) => (e.meta.mtime = OLD + 99_999), undefined],
  ['a fifo now', (e) => ((e.meta = { ...e.meta, kind: 'fifo' } as Meta), delete e.oid), 'type file → fifo'],
];

it('a recorded entry is unchanged exactly when compared field by field it would be', async () => {
  const recorded: State = new Map([['', { meta: { kind: 'dir', mode: 0o755, uid: 0, gid: 0 } }]]);
  variants.forEach((_, i) => recorded.set(`f${i}`, file(i)));
  await saveCache(repo, HEAD, recorded, new Set());
  const cached = (await loadCache(repo, HEAD)).state;
  const scanned: State = new Map();
  const fresh = (): State => {
    const s: State = new Map();
    for (const [p, e] of recorded) s.set(p, { ...e, meta: { ...e.meta } });
    return s;
  };
  for (const [p, e] of fresh()) scanned.set(p, e);
  variants.forEach(([, change], i) => change(scanned.get(`f${i}`)!));

  // Read back from the cache (lines not parsed), and as plain objects: the same answer.
  for (const [what, before] of [
    ['from the stat cache', cached],
    ['as parsed objects', fresh()],
  ] as const) {
    const got = new Map(diffStates(before, scanned).map((c) => [c.path, [c.change, ...c.details].join(' ')]));
    variants.forEach(([name, , want], i) => {
      const g = got.get(`f${i}`);
      if (want === undefined) assert.equal(g, undefined, `${what}: ${name}`);
      else assert.ok(g?.startsWith(want), `${what}: ${name}: ${g}`);
    });
    assert.equal(got.size, variants.filter(([, , w]) => w !== undefined).length, what);
  }
});
