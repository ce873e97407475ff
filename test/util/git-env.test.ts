import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gitAuthEnv } from '../../src/act/review/remote.js';
import { gitEnv } from '../../src/util/git-env.js';

const config = (env: NodeJS.ProcessEnv, key: string) =>
  execFileSync('git', ['config', '--get', key], { env, encoding: 'utf8' }).trim();

test("every git of trail's flushes refs before it says done, and a token's settings keep theirs", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-gitenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('git', ['init', '--bare', '--quiet', dir], { env: gitEnv() });
  const inRepo = (extra: NodeJS.ProcessEnv) => ({ ...gitEnv(extra), GIT_DIR: dir });
  // The repository's own config says otherwise (made by an older trail, or edited): trail's wins.
  execFileSync('git', ['--git-dir', dir, 'config', 'core.fsync', 'pack'], { env: gitEnv() });
  assert.equal(config(inRepo({}), 'core.fsync'), 'all');

  const auth = inRepo(gitAuthEnv('t0ken'));
  assert.equal(config(auth, 'core.fsync'), 'all');
  assert.match(config(auth, 'http.extraHeader'), /^Authorization: Basic /);
  assert.equal(config(auth, 'credential.helper'), '');
});
