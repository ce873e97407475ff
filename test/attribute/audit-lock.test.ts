// attribute.lockAudit, decided without touching the kernel: the lock decision (lockPlan), the
// repair of missing rules under a locked kernel (lockedRepair) and the parsing they rely on,
// fed with `auditctl -s` and `auditctl -l` as captured on the development machine (auditctl
// 3.0.9, kernel 6.18) while trail watch ran on /tmp/trail-lockfix-kUNG/w with
// access.paths=secret.key. A locked kernel's `auditctl -s` differs only by "enabled 2": it is
// made from the captured one by changing that line, since locking this machine for real would
// hold its audit rules until reboot (the real lock is test/watch/lock-audit-real.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lockedRepair } from '../../src/attribute/audit-feed.js';
import { auditState } from '../../src/attribute/audit-state.js';
import * as ctl from '../../src/attribute/auditctl.js';
import { checkpointMessage, parseCheckpointMessage } from '../../src/record/checkpoint/checkpoint-format.js';
import { defaults, KEYS, parseValue } from '../../src/record/repo/settings.js';
import { lockPlan, type LockDir, type LockInput } from '../../src/watch/audit-setup.js';
import { ROOT } from './helpers.js';

const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'attribute', 'fixtures', name), 'utf8');
const STATUS = fixture('auditctl-s.txt');
const LOCKED_STATUS = STATUS.replace(/^enabled 1$/m, 'enabled 2');
const RULES = fixture('auditctl-l-trail.txt');
const BASE = '/tmp/trail-lockfix-kUNG';
const RELIED = [
  { path: `${BASE}/home/audit-sync`, perms: 'wa', key: ctl.SYNC_KEY },
  { path: `${BASE}/w`, perms: 'wa', key: ctl.watchKey('lockfix') },
  { path: `${BASE}/w/secret.key`, perms: 'r', key: 'trail-access-lockfix' },
];

test('auditctl -s: the captured status is enabled 1, the same with "enabled 2" is locked and otherwise equal', () => {
  assert.notEqual(LOCKED_STATUS, STATUS, 'the fixture has an "enabled 1" line');
  const s = ctl.parseStatus(STATUS);
  assert.deepEqual(s, {
    enabled: 1,
    failure: 1,
    pid: 17779,
    backlogLimit: 8192,
    lost: 14370,
    backlog: 0,
    backlogWaitTime: 15000,
  });
  assert.equal(ctl.isLocked(s), false);
  const l = ctl.parseStatus(LOCKED_STATUS);
  assert.equal(ctl.isLocked(l), true);
  assert.deepEqual({ ...l, enabled: 1 }, s);
  assert.equal(ctl.isLocked(ctl.parseStatus(STATUS.replace(/^enabled 1$/m, 'enabled 0'))), false);
});

test('auditctl -l: every rule trail adds is found again in what auditctl prints', () => {
  const listed = ctl.parseRules(RULES);
  assert.equal(listed.length, 5);
  assert.deepEqual(ctl.missingWatches(RELIED, listed), []);
  assert.deepEqual(ctl.missingExecArches(listed), []);
  assert.deepEqual(ctl.parseRules('No rules\n'), []);
  // One rule gone (someone ran auditctl -W): exactly that one is missing.
  const without = listed.filter((l) => !l.includes('-k trail-lockfix'));
  assert.deepEqual(ctl.missingWatches(RELIED, without), [RELIED[1]]);
  // The b32 execve rule refused by a 64-bit-only kernel.
  assert.deepEqual(ctl.missingExecArches(listed.filter((l) => !l.includes('arch=b32'))), ['arch=b32']);
  assert.deepEqual(ctl.missingExecArches([]), ['arch=b64', 'arch=b32']);
  // A rule of the same path with other permissions or another key is not trail's.
  assert.equal(ctl.missingWatches([{ ...RELIED[1]!, perms: 'r' }], listed).length, 1);
});

test('lockedRepair: unlocked, missing rules are added again; locked, none is tried and each says why', () => {
  const missing = [RELIED[0]!, RELIED[1]!];
  const open = lockedRepair(missing, false, new Map());
  assert.deepEqual(open.add, missing);
  assert.equal(open.lockedMissing.size, 0);

  const locked = lockedRepair(missing, true, new Map());
  assert.deepEqual(locked.add, []);
  assert.equal(
    locked.lockedMissing.get(ctl.watchKey('lockfix')),
    `audit rules are locked (auditctl -e 2) until reboot and trail's rule for ${BASE}/w is missing`,
  );
  assert.equal(locked.lockedMissing.get(ctl.SYNC_KEY), ctl.lockedMissingReason(`${BASE}/home/audit-sync`));
  assert.equal(locked.newlyLocked.length, 2);

  // Found again at the next check: said once, not at every window.
  const again = lockedRepair([RELIED[1]!], true, locked.lockedMissing);
  assert.deepEqual(again.newlyLocked, []);
  assert.deepEqual([...again.lockedMissing.keys()], [ctl.watchKey('lockfix')]);
});

const dir = (name: string, o: Partial<LockDir> = {}): LockDir => ({
  name,
  audit: 'auto',
  lockAudit: false,
  started: true,
  ...o,
});
const input = (o: Partial<LockInput>): LockInput => ({
  dirs: [dir('etc')],
  enabled: ctl.parseStatus(STATUS).enabled,
  missingRules: [],
  ...o,
});

test('lockPlan: nobody asks → no lock; one directory asking is enough and the message says host-wide', () => {
  assert.deepEqual(lockPlan(input({})), { action: 'none', notes: [] });
  const p = lockPlan(input({ dirs: [dir('etc'), dir('srv', { lockAudit: true }), dir('opt')] }));
  assert.equal(p.action, 'lock');
  assert.match(p.message!, /auditctl -e 2/);
  assert.match(p.message!, /attribute\.lockAudit of srv/);
  assert.match(p.message!, /host-wide/);
  assert.match(p.message!, /trail included/);
});

test('lockPlan: never without audit in use, never with audit off, never before every rule is in', () => {
  // attribute.audit off: its lockAudit does not count, and says so.
  const off = lockPlan(input({ dirs: [dir('etc', { audit: 'off', lockAudit: true })] }));
  assert.equal(off.action, 'none');
  assert.deepEqual(off.notes, ['attribute.lockAudit of etc does not count: attribute.audit is off there']);
  // No audit feed (not root, no auditd, auditctl missing …).
  const none = lockPlan(input({ dirs: [dir('etc', { lockAudit: true })], auditMissing: 'auditd is not running' }));
  assert.equal(none.action, 'skip');
  assert.match(none.message!, /no audit in use \(auditd is not running\)/);
  // Kernel audit off, or its state unreadable.
  assert.equal(lockPlan(input({ dirs: [dir('etc', { lockAudit: true })], enabled: 0 })).action, 'skip');
  assert.equal(lockPlan(input({ dirs: [dir('etc', { lockAudit: true })], enabled: undefined })).action, 'skip');
  // A directory that could not be watched has no rules in: a lock would keep them out.
  const failed = lockPlan(input({ dirs: [dir('etc', { lockAudit: true }), dir('srv', { started: false })] }));
  assert.equal(failed.action, 'skip');
  assert.match(failed.message!, /srv could not be watched/);
  // …unless it does not use audit at all.
  const failedOff = lockPlan(
    input({ dirs: [dir('etc', { lockAudit: true }), dir('srv', { started: false, audit: 'off' })] }),
  );
  assert.equal(failedOff.action, 'lock');
  // A rule the feed relies on is not listed.
  const missing = ctl
    .missingWatches(RELIED, ctl.parseRules(RULES).slice(1))
    .map((r) => ctl.watchLine(r.path, r.perms, r.key));
  const m = lockPlan(input({ dirs: [dir('lockfix', { lockAudit: true })], missingRules: missing }));
  assert.equal(m.action, 'skip');
  assert.match(m.message!, /missing: -w \/tmp\/trail-lockfix-kUNG\/home\/audit-sync -p wa -k trail-sync/);
});

test('lockPlan: a kernel already locked (enabled 2) is not locked again', () => {
  const p = lockPlan(
    input({ dirs: [dir('etc', { lockAudit: true })], enabled: ctl.parseStatus(LOCKED_STATUS).enabled }),
  );
  assert.equal(p.action, 'already');
  assert.match(p.message!, /already locked/);
});

test('attribute.lockAudit: off by default, true/false and their spellings, anything else refused', () => {
  assert.equal(defaults()['attribute.lockAudit'], false);
  assert.match(KEYS['attribute.lockAudit']!.doc, /auditctl -e 2/);
  for (const t of ['true', 'yes', 'on', '1', ' TRUE ']) assert.equal(parseValue('attribute.lockAudit', t), true);
  for (const t of ['false', 'no', 'off', '0']) assert.equal(parseValue('attribute.lockAudit', t), false);
  assert.throws(() => parseValue('attribute.lockAudit', 'locked'), /invalid value for attribute.lockAudit/);
});

test('a checkpoint carries enabled 2 as auditctl -s says it, through its format and parser', async () => {
  ctl.runStatusWith(async () => ({ stdout: Buffer.from(LOCKED_STATUS), stderr: '', code: 0 }));
  let audit;
  try {
    audit = await auditState(7, { changes: 1, logins: ['alice'] });
  } finally {
    ctl.runStatusWith(undefined);
  }
  assert.deepEqual(audit, {
    enabled: 2,
    lost: 14370,
    backlog: 0,
    lastSerial: 7,
    configChanges: 1,
    configChangedBy: ['alice'],
    loginRewrites: null,
    auditdRestarts: null,
  });
  const m = checkpointMessage({
    v: 1,
    host: 'web1',
    name: 'etc',
    seq: 3,
    reason: 'heartbeat',
    time: '2026-12-05T07:00:00.000Z',
    boot: 'b',
    daemonStart: null,
    interval: 300,
    heads: { observed: 'a'.repeat(40), approved: null, logs: null, access: null, proofs: null },
    audit,
    previous: null,
    window: null,
  });
  assert.deepEqual(parseCheckpointMessage(m).audit, audit);
});
