import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { hashObject, serializeTree, EMPTY_TREE } from '../../../src/record/store/object-format.js';
import { LooseWriter } from '../../../src/record/store/loose-writer.js';
import { tempDir } from '../../support/cli.js';

test('object ids match git hash-object', () => {
  for (const content of ['', 'hello\n', 'x'.repeat(100_000)]) {
    const r = spawnSync('git', ['hash-object', '--stdin'], { input: content, encoding: 'utf8' });
    assert.equal(hashObject('blob', Buffer.from(content)), r.stdout.trim());
  }
  assert.equal(hashObject('tree', Buffer.alloc(0)), EMPTY_TREE);
});

test('trees are sorted as git sorts them and accepted by git fsck', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const repo = join(tmp.path, 'r.git');
  spawnSync('git', ['init', '--bare', '-q', repo]);
  const w = new LooseWriter(repo);
  const blob = await w.write('blob', Buffer.from('x'));
  const sub = await w.write('tree', serializeTree([{ name: 'f', mode: '100644', oid: blob }]));
  // "a.b" sorts before the folder "a" (compared as "a/"), which sorts before "a0".
  const tree = await w.write(
    'tree',
    serializeTree([
      { name: 'a0', mode: '100644', oid: blob },
      { name: 'a', mode: '40000', oid: sub },
      { name: 'a.b', mode: '100644', oid: blob },
      { name: 'caf\xe9', mode: '100755', oid: blob },
    ]),
  );
  await w.finish();
  const ls = spawnSync('git', ['--git-dir', repo, 'ls-tree', '-z', tree], { encoding: 'latin1' });
  assert.deepEqual(
    ls.stdout
      .split('\0')
      .filter(Boolean)
      .map((l) => l.split('\t')[1]),
    ['a.b', 'a', 'a0', 'caf\xe9'],
  );
  const mk = spawnSync('git', ['--git-dir', repo, 'mktree', '-z'], { input: ls.stdout, encoding: 'latin1' });
  assert.equal(mk.stdout.trim(), tree, 'git builds the same tree from the same entries');
  assert.equal(spawnSync('git', ['--git-dir', repo, 'fsck', '--strict', tree]).status, 0);
});
