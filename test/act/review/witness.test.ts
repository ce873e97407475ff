// verify --remote: GitHub witnesses what this host published. A local reset of the trail to
// an older commit (consistent on its own) is caught by comparing with what was pushed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { world, git } from './helpers.js';

test(
  'verify --remote: pushed history that vanished locally is reported; an intact trail passes',
  { timeout: 300_000 },
  async (t) => {
    const w = await world(t);
    const h = await w.addHost('web1');
    writeFileSync(join(h.dir, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
    assert.equal((await h.run(['snapshot', '-m', 'the change someone wants gone'])).code, 0);
    const pushed = await h.run(['push', '--json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const intact = await h.run(['verify', '--remote', '--offline', '--no-disk', '--json']);
    assert.deepEqual(intact.json.remote.findings, [], intact.stderr);
    assert.notEqual(intact.code, 11);
    // A local root resets the trail one commit back: locally nothing looks wrong.
    const head = git(h.repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim();
    git(h.repo, ['update-ref', 'refs/heads/observed', 'refs/heads/observed~1']);
    const local = await h.run(['verify', '--offline', '--no-disk', '--json']);
    assert.notEqual(local.code, 11, 'the shorter history is consistent on its own');
    const witnessed = await h.run(['verify', '--remote', '--offline', '--no-disk', '--json']);
    assert.equal(witnessed.code, 11, witnessed.stdout);
    assert.deepEqual(
      witnessed.json.remote.findings.map((f: { kind: string; commit: string }) => [f.kind, f.commit]),
      [['history-missing', head]],
    );
  },
);
