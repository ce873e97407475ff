// Policies with the real daemon: a protected file edited on disk is recorded, put back to
// approved by the daemon, and both the attempt and the restoration are in the trail.
import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Daemon, Fixture, scratch, waitFor } from './helpers.js';

const tmp = scratch('protect');
after(() => tmp.cleanup());

it('the daemon restores a protected file byte- and mode-exact, and records the attempt and the restore', async () => {
  const f = new Fixture(join(tmp.dir, 'p'));
  mkdirSync(join(f.work, 'ssh'));
  writeFileSync(join(f.work, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(f.work, 'ssh', 'sshd_config'), 0o600);
  await f.init();
  const policy = join(tmp.dir, 'policy.yaml');
  writeFileSync(
    policy,
    ['rules:', '  - paths: [ssh/sshd_config]', '    action: protect', 'alert:', '  syslog: false'].join('\n'),
  );
  await f.trail(['--name', f.name, 'policy', 'set', policy]);
  const d = new Daemon(f);
  await d.started();
  try {
    writeFileSync(join(f.work, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
    chmodSync(join(f.work, 'ssh', 'sshd_config'), 0o644);
    await waitFor(
      'the protected file is put back',
      () => readFileSync(join(f.work, 'ssh', 'sshd_config'), 'utf8') === 'PermitRootLogin no\n',
    );
    await waitFor('the restore is in the trail', async () =>
      (await f.commits()).some((c) => /^protect: restored ssh\/sshd_config/.test(c.subject)),
    );
    assert.equal(statSync(join(f.work, 'ssh', 'sshd_config')).mode & 0o7777, 0o600);
    const commits = await f.commits();
    const restore = commits.findIndex((c) => /^protect: restored/.test(c.subject));
    assert.equal(commits[restore]!.author, 'trail');
    // The attempt, with the edited content, is the commit just before the restore.
    const attempt = commits[restore - 1]!; // oldest first: the attempt just before the restore
    assert.equal(
      (await f.git(['cat-file', 'blob', `${attempt.id}:ssh/sshd_config`])).stdout.toString(),
      'PermitRootLogin yes\n',
    );
    await d.waitLog('protect logged', (l) => l.event === 'protect');
  } finally {
    await d.stop();
  }
});
