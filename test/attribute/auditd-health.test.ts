// auditd stops writing records when the disk of its log runs low: trail must say so
// instead of a bare "records stopped arriving".
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { logDiskState, readAuditdConf } from '../../src/attribute/auditd-health.js';
import { tempDir } from '../support/cli.js';

const fakeStatfs = (freeMb: number, totalMb = 10_000) =>
  (() => ({
    bsize: 4096,
    bavail: (freeMb * 2 ** 20) / 4096,
    blocks: (totalMb * 2 ** 20) / 4096,
  })) as unknown as typeof import('node:fs').statfsSync;

test('reads auditd.conf thresholds in megabytes and percent, with defaults for the rest', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const dir = tmp.path;
  const conf = join(dir, 'auditd.conf');
  writeFileSync(
    conf,
    '# comment\nlog_file = /srv/audit/a.log\nspace_left = 10%\nadmin_space_left = 5%\nadmin_space_left_action = halt\n',
  );
  const s = readAuditdConf(conf);
  assert.equal(s.logFile, '/srv/audit/a.log');
  assert.deepEqual(s.spaceLeft, { percent: 10 });
  assert.deepEqual(s.adminSpaceLeft, { percent: 5 });
  assert.equal(s.adminSpaceLeftAction, 'HALT');
  assert.equal(s.diskFullAction, 'SUSPEND');
  assert.deepEqual(readAuditdConf(join(dir, 'missing.conf')).spaceLeft, { mb: 75 });
});

test('names the suspension below admin_space_left, warns below space_left, is quiet above', () => {
  const s = readAuditdConf('/nonexistent');
  const low = logDiskState(s, fakeStatfs(40));
  assert.equal(low?.freeMb, 40);
  assert.match(
    low!.suspended!,
    /40 MB free on the filesystem of \/var\/log\/audit, below admin_space_left \(50 MB\) whose action is SUSPEND/,
  );
  const warn = logDiskState(s, fakeStatfs(60));
  assert.equal(warn?.suspended, undefined);
  assert.match(warn!.low!, /below space_left \(75 MB\)/);
  const fine = logDiskState(s, fakeStatfs(5000));
  assert.deepEqual([fine?.suspended, fine?.low], [undefined, undefined]);
  // A percentage is of the filesystem's size.
  const pct = logDiskState({ ...s, adminSpaceLeft: { percent: 5 } }, fakeStatfs(400, 10_000));
  assert.match(pct!.suspended!, /below admin_space_left \(5%\)/);
  // An action that keeps writing is not a suspension.
  assert.equal(logDiskState({ ...s, adminSpaceLeftAction: 'SYSLOG' }, fakeStatfs(40))?.suspended, undefined);
});
