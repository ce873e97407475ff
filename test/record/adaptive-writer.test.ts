// The daemon's writer: loose objects for a small window, one pack once many come.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdaptiveWriter, PACK_THRESHOLD } from '../../src/record/packwriter.js';
import { git, tempDir } from '../support/cli.js';

function looseCount(repo: string): number {
  return readdirSync(join(repo, 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d)).reduce((n, d) => n + readdirSync(join(repo, 'objects', d)).length, 0);
}

for (const n of [3, 40]) {
  test(`${n} objects: ${n < PACK_THRESHOLD ? 'all loose' : 'the first loose, the rest in one pack'}, every one readable by git`, async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const repo = join(tmp.path, 'r.git');
    assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
    const w = new AdaptiveWriter(repo);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await w.write('blob', Buffer.from(`object ${i}\n`)));
    await w.finish();
    const check = git(repo, ['cat-file', '--batch-check'], ids.join('\n') + '\n').stdout.toString();
    assert.equal(check.split('\n').filter((l) => / blob \d+$/.test(l)).length, n, check);
    const packs = readdirSync(join(repo, 'objects', 'pack')).filter((f) => f.endsWith('.pack'));
    assert.equal(looseCount(repo), Math.min(n, PACK_THRESHOLD - 1));
    assert.equal(packs.length, n < PACK_THRESHOLD ? 0 : 1);
    assert.equal(git(repo, ['fsck', '--full', '--strict']).code, 0);
  });
}
