// The policy store on a real trail: what `policy set` keeps beside policy.yaml, and that the
// YAML, not the parse kept with it, is what is in force.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePolicy } from '../../src/decide/policy.js';
import { readPolicy, writePolicy } from '../../src/decide/store.js';
import { Refs, Repo } from '../../src/record/repo/repo.js';
import { writeSideFiles } from '../../src/record/repo/side-file.js';
import { tempDir, trail } from '../support/cli.js';

const POLICY = ['version: 1', 'rules:', '  - paths: ssh/*', '    action: alert', ''].join('\n');

test('policy set keeps the parse with its YAML; one edited behind trail is parsed again, never the stale parse', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const init = await trail(join(tmp.path, 'home'), ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const repo = await Repo.open(init.json.repo as string);
  t.after(() => repo.close());
  const actor = { name: 'root' };

  await writePolicy(repo, POLICY, 'p.yaml', actor);
  const kept = await repo.objects().read(`${Refs.policy}:policy.json`);
  assert.equal(kept?.type, 'blob');
  assert.deepEqual(JSON.parse(kept!.content.toString('utf8')).policy, parsePolicy(POLICY, 'p.yaml'));
  assert.deepEqual(await readPolicy(repo), parsePolicy(POLICY, 'p.yaml'));

  // policy.yaml changed on the ref by other means, the old parse left beside it.
  const edited = POLICY.replace('action: alert', 'action: protect');
  await writeSideFiles(
    repo,
    Refs.policy,
    { 'policy.yaml': Buffer.from(edited), 'policy.json': kept!.content },
    actor,
    'by hand',
    'policy',
  );
  const inForce = await readPolicy(repo);
  assert.equal(inForce.rules[0]!.action, 'protect');
  assert.deepEqual(inForce, parsePolicy(edited, 'the stored policy'));
});
