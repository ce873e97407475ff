// The daemon's ref updates go through one long-running `git update-ref --stdin`: git must
// still refuse a ref that moved meanwhile, and write the reflog, exactly as one-shot calls do.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { RefUpdater } from '../../../src/record/commit/ref-updater.js';
import { gitEnv } from '../../../src/record/repo/repo.js';
import { git, tempDir } from '../../support/cli.js';

test('moves refs with compare-and-swap and a reflog, and survives a refused update', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const repo = tmp.path + '/r.git';
  assert.equal(spawnSync('git', ['init', '--bare', '-q', repo]).status, 0);
  git(repo, ['config', 'core.logAllRefUpdates', 'always']);
  const tree = git(repo, ['mktree'], '').stdout.toString().trim();
  const c1 = git(repo, ['commit-tree', '-m', 'one', tree]).stdout.toString().trim();
  const c2 = git(repo, ['commit-tree', '-m', 'two', '-p', c1, tree]).stdout.toString().trim();
  const u = new RefUpdater(repo, 'trail: test', gitEnv());
  t.after(() => u.close());
  await u.update('refs/heads/observed', c1, undefined);
  await u.update('refs/heads/observed', c2, c1);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), c2);
  // The ref is at c2: an update that expects c1 is refused, and nothing moves.
  await assert.rejects(u.update('refs/heads/observed', c1, c1), /git update-ref failed: .*(expected|is at)/);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), c2);
  // A new process takes over after the refusal.
  await u.update('refs/heads/observed', c1, c2);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim(), c1);
  const log = git(repo, ['reflog', 'show', '--format=%gs', 'refs/heads/observed']).stdout.toString().trim().split('\n');
  assert.deepEqual(log, ['trail: test', 'trail: test', 'trail: test']);
  // Two updates at once are taken one after the other, each with its own expected value.
  await Promise.all([u.update('refs/heads/a', c1, undefined), u.update('refs/heads/b', c2, undefined)]);
  assert.equal(git(repo, ['rev-parse', 'refs/heads/a', 'refs/heads/b']).stdout.toString().trim(), `${c1}\n${c2}`);
});
