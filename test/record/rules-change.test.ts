// Rules that change how a file is recorded (secrets, the size limit) apply to files that did
// not change since: their stat data still match the cache, but the cache was recorded under
// other rules. Both ways status looks at a tree are tried: a small tree's own scan, and a big
// tree's (forced here), which checks the stat index first.
import { strict as assert } from 'node:assert';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { git, initTrail, trail } from '../support/cli.js';
import { sleep } from '../support/wait.js';

const PLACEHOLDER = /^trail: the content of this file is a secret and stays on its host\n/;
const HOUR_AGO = new Date(Date.now() - 3_600_000);

for (const [way, env] of [
  ['a small tree', { TRAIL_READ_THREADS: 'never' }],
  ['a big tree (stat index)', { TRAIL_READ_THREADS: 'always', TRAIL_TIMING: '1' }],
] as const) {
  describe(`a rules change, on ${way}`, () => {
    it('records untouched files as the new rules say, and the index is trusted again after', async (t) => {
      const files = { 'app.conf': 'password=hunter2\n', 'big.bin': 'x'.repeat(5000), 'plain.conf': 'plain\n' };
      const { home, dir, repo } = await initTrail(t, files);
      // Settled files: their stat data are kept in the cache (changed over 2 s before it was
      // written, see RACY_MS), so only the rules can make status look at them again.
      for (const f of Object.keys(files)) utimesSync(join(dir, f), HOUR_AGO, HOUR_AGO);
      await sleep(2100);
      const run = async (...args: string[]) => {
        const r = await trail(home, args, { env });
        assert.ok(r.code === 0 || r.code === 3, `${args.join(' ')}: ${r.stderr}`);
        return r;
      };
      const changed = async () =>
        ((await run('status', '--json')).json.changes as { path: string }[]).map((c) => c.path);
      const shown = (path: string) => git(repo, ['cat-file', 'blob', `refs/heads/observed:${path}`]).stdout.toString();
      await run('snapshot', '-m', 'the files aged');
      assert.deepEqual(await changed(), []);

      await run('config', 'set', 'secrets', 'app.conf');
      assert.deepEqual(await changed(), ['app.conf'], 'named a secret: no longer what is recorded');
      await run('snapshot', '-m', 'app.conf is a secret');
      assert.match(shown('app.conf'), PLACEHOLDER);
      assert.deepEqual(await changed(), []);
      if (env.TRAIL_TIMING) {
        const r = await run('status', '--json');
        assert.match(r.stderr, /checked the stat index/, 'the index is written under the new rules');
      }

      await run('config', 'set', 'snapshot.maxFileSize', '1000');
      assert.deepEqual(await changed(), ['big.bin'], 'over the new size limit: recorded by digest now');
      await run('snapshot', '-m', 'size limit');
      assert.doesNotMatch(shown('big.bin'), /^x{5000}$/);
      assert.deepEqual(await changed(), []);

      await run('config', 'unset', 'secrets');
      assert.deepEqual(await changed(), ['app.conf'], 'no longer a secret');
      await run('snapshot', '-m', 'app.conf is not a secret');
      assert.equal(shown('app.conf'), files['app.conf']);
      assert.deepEqual(await changed(), []);
      writeFileSync(join(dir, 'plain.conf'), 'still recorded\n');
      assert.deepEqual(await changed(), ['plain.conf']);
    });
  });
}
