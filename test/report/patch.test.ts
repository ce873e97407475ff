// patchFor: the content diff `trail diff` and `trail show` print, made by real git from
// temp copies. Many changed paths go through one git; each keeps its own header, in order.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Change } from '../../src/record/model/diff.js';
import type { Meta } from '../../src/record/model/meta.js';
import type { Entry } from '../../src/record/model/state.js';
import type { Repo } from '../../src/record/repo/repo.js';
import { patchFor, type Side } from '../../src/report/patch.js';

const file = (extra: Partial<Meta> = {}): Meta => ({ kind: 'file', mode: 0o644, uid: 0, gid: 0, ...extra });

function side(root: string, files: Record<string, string>, secret: string[] = []): Side {
  mkdirSync(root, { recursive: true });
  const entries = new Map<string, Entry>();
  for (const [path, text] of Object.entries(files)) {
    writeFileSync(join(root, path), text);
    entries.set(path, { meta: file(secret.includes(path) ? { secret: 'digest' } : {}) });
  }
  return { kind: 'disk', root, entries };
}

test('fourteen changed paths in one git diff: each its own header and hunks, in the order given; secrets and unchanged bytes left out', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-patch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before: Record<string, string> = { 'gone.conf': 'bye\n', 'key.pem': 'old secret\n', 'same.conf': 'x\n' };
  const after: Record<string, string> = { 'new.conf': 'hello\n', 'key.pem': 'new secret\n', 'same.conf': 'x\n' };
  // Ten edited files: pair numbers 0–9 and beyond, which git lists as 0, 1, 10, 11, 2 …
  for (let i = 0; i < 10; i++) {
    before[`f${i}.conf`] = `line ${i}\nkeep\n`;
    after[`f${i}.conf`] = `line ${i} changed\nkeep\n`;
  }
  const a = side(join(dir, 'a'), before, ['key.pem']);
  const b = side(join(dir, 'b'), after, ['key.pem']);
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: Change[] = paths.map((path) => ({
    path,
    change: !before[path] ? 'added' : !after[path] ? 'deleted' : 'modified',
    ...(a.entries.has(path) ? { before: a.entries.get(path)!.meta } : {}),
    ...(b.entries.has(path) ? { after: b.entries.get(path)!.meta } : {}),
    details: [],
  })) as Change[];
  const repo = undefined as unknown as Repo;
  return patchFor(repo, a, b, changes).then(async (patch) => {
    // In batches of a few pairs each (a git per batch, the folders emptied between): the same.
    assert.equal(await patchFor(repo, a, b, changes, 40), patch);
    const expected: string[] = [];
    for (let i = 0; i < 10; i++)
      expected.push(`--- a/f${i}.conf\n+++ b/f${i}.conf\n@@ -1,2 +1,2 @@\n-line ${i}\n+line ${i} changed\n keep\n`);
    assert.equal(
      patch,
      [
        ...expected,
        '--- a/gone.conf\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n',
        '--- key.pem\n+++ key.pem\n(secret: content stays on the host and is not shown)\n',
        '--- /dev/null\n+++ b/new.conf\n@@ -0,0 +1 @@\n+hello\n',
      ].join(''),
    );
  });
});
