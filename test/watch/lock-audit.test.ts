// attribute.lockAudit with a real trail watch, real auditd and real rules, in the cases where
// nothing may be locked: the option off (its default), and on where attribute.audit is off.
// These tests must never lock this machine: trail watch runs with a guard first on its PATH,
// an `auditctl` that refuses `-e 2` (and notes the attempt) and hands everything else to the
// real one, so a wrong lock decision fails the test instead of locking the host's audit rules
// until reboot. The real lock is test/watch/lock-audit-real.test.ts (opt-in).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditdFor, auditReady, Fixture, waitFor, Watch } from '../attribute/helpers.js';

const why = await auditReady();
const REAL_AUDITCTL = spawnSync('sh', ['-c', 'command -v auditctl'], { encoding: 'utf8' }).stdout.trim();

/** A PATH whose auditctl refuses `-e 2`; `marker` gets each refused attempt and the rules
 * `auditctl -l` listed at that moment. */
function guardedPath(f: Fixture): { marker: string } {
  const bin = join(f.base, 'guard-bin');
  const marker = join(f.base, 'lock-attempts');
  mkdirSync(bin);
  // Fixed script; the two paths come in as environment variables, never spliced into it.
  writeFileSync(
    join(bin, 'auditctl'),
    [
      '#!/bin/sh',
      'prev=',
      'for a in "$@"; do',
      // The rules in place at the attempt go with it: what a real lock would have kept.
      '  if [ "$prev" = "-e" ] && [ "$a" = "2" ]; then',
      '    { echo "attempt: $*"; "$TRAIL_TEST_REAL_AUDITCTL" -l; } >> "$TRAIL_TEST_LOCK_MARKER"',
      '    echo "refused by the test guard: auditctl -e 2" >&2; exit 1',
      '  fi',
      '  prev="$a"',
      'done',
      'exec "$TRAIL_TEST_REAL_AUDITCTL" "$@"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  f.env.PATH = `${bin}:${f.env.PATH}`;
  f.env.TRAIL_TEST_LOCK_MARKER = marker;
  f.env.TRAIL_TEST_REAL_AUDITCTL = REAL_AUDITCTL;
  return { marker };
}

function enabled(): number | undefined {
  const r = spawnSync('auditctl', ['-s'], { encoding: 'utf8' });
  const m = /^enabled (\d+)/m.exec(r.stdout ?? '');
  return m ? Number(m[1]) : undefined;
}

function lockEvents(stdout: string): { level: string; msg: string }[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; event: string; msg: string })
    .filter((e) => e.event === 'audit-lock')
    .map((e) => ({ level: e.level, msg: e.msg }));
}

const opts = { skip: why ? `real audit is not available: ${why}` : false };

test('the guard itself refuses auditctl -e 2 and passes everything else on', opts, async () => {
  const f = new Fixture('lockguard');
  try {
    const { marker } = guardedPath(f);
    const bad = spawnSync('auditctl', ['-e', '2'], { env: f.env, encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.ok(existsSync(marker));
    const ok = spawnSync('auditctl', ['-s'], { env: f.env, encoding: 'utf8' });
    assert.equal(ok.status, 0);
    assert.match(ok.stdout, /^enabled [01]$/m);
  } finally {
    f.cleanup();
  }
});

test(
  'attribute.lockAudit is off by default: trail watch with audit adds its rules and locks nothing',
  opts,
  async (t) => {
    await auditdFor(t, 'shared');
    const f = new Fixture('lockoff');
    const { marker } = guardedPath(f);
    await f.init();
    const get = await f.trail(['--name', f.name, 'config', 'get', 'attribute.lockAudit']);
    assert.equal(get.stdout.toString().trim(), 'false');
    const before = enabled();
    const w = new Watch(f);
    try {
      await w.started();
      const rules = spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout;
      assert.ok(rules.includes(`-w ${f.work} -p wa -k trail-${f.name}`), rules);
      const doctor = JSON.parse((await f.trail(['doctor', '--json'])).stdout.toString()) as {
        audit: { locked: boolean; lockAudit: string[]; enabled: number };
      };
      assert.equal(doctor.audit.locked, false);
      assert.deepEqual(doctor.audit.lockAudit, []);
    } finally {
      await w.stop();
      f.cleanup();
    }
    assert.deepEqual(lockEvents(w.stdout), []);
    assert.equal(existsSync(marker), false, 'no auditctl -e 2 was tried');
    assert.equal(enabled(), before);
  },
);

test('attribute.lockAudit on where attribute.audit is off: not counted, said so, nothing locked', opts, async () => {
  const f = new Fixture('lockaoff');
  const { marker } = guardedPath(f);
  await f.init();
  await f.trail(['--name', f.name, 'config', 'set', 'attribute.audit', 'off']);
  await f.trail(['--name', f.name, 'config', 'set', 'attribute.lockAudit', 'true']);
  const bad = await f.trail(['--name', f.name, 'config', 'set', 'attribute.lockAudit', 'maybe'], [2]);
  assert.match(bad.stderr, /expected true or false/);
  const before = enabled();
  const w = new Watch(f);
  try {
    await w.started();
    const doctor = JSON.parse((await f.trail(['doctor', '--json'])).stdout.toString()) as {
      audit: { locked: boolean; lockAudit: string[] };
    };
    assert.deepEqual(doctor.audit.lockAudit, [f.name]);
    assert.equal(doctor.audit.locked, false);
  } finally {
    await w.stop();
    f.cleanup();
  }
  assert.deepEqual(lockEvents(w.stdout), [
    { level: 'notice', msg: `attribute.lockAudit of ${f.name} does not count: attribute.audit is off there` },
  ]);
  assert.equal(existsSync(marker), false, 'no auditctl -e 2 was tried');
  assert.equal(enabled(), before);
});

test(
  'attribute.lockAudit on with audit: trail watch asks for the lock once, after every rule is in, and goes on when refused',
  opts,
  async (t) => {
    await auditdFor(t, 'shared');
    const f = new Fixture('lockon');
    const { marker } = guardedPath(f);
    writeFileSync(join(f.work, 'secret.key'), 'k\n');
    await f.init();
    await f.trail(['--name', f.name, 'config', 'set', 'access.paths', 'secret.key']);
    await f.trail(['--name', f.name, 'config', 'set', 'attribute.lockAudit', 'yes']);
    const w = new Watch(f);
    let attempts = '';
    try {
      await w.started();
      await waitFor('the lock attempt to be logged', () => lockEvents(w.stdout).length > 0, 30_000);
      attempts = readFileSync(marker, 'utf8');
      // Still recording after the refused lock.
      writeFileSync(join(f.work, 'after.conf'), 'x\n');
      await waitFor(
        'a commit of after.conf',
        async () => !!(await f.commitOf('after.conf')),
        60_000,
        () => w.stderr,
      );
    } finally {
      await w.stop();
      f.cleanup();
    }
    assert.equal(attempts.match(/^attempt: /gm)?.length, 1, attempts);
    assert.match(attempts, /^attempt: -e 2$/m);
    for (const rule of [
      `-w ${f.work} -p wa -k trail-${f.name}`,
      `-w ${join(f.home, 'audit-sync')} -p wa -k trail-sync`,
      `-w ${join(f.work, 'secret.key')} -p r -k trail-access-${f.name}`,
      '-a always,exit -F arch=b64 -S execve -F auid!=-1 -F key=trail-exec',
    ])
      assert.ok(attempts.includes(rule), `in place at the lock: ${rule}\n${attempts}`);
    const events = lockEvents(w.stdout);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.level, 'warning');
    assert.match(events[0]!.msg, /could not lock the audit rules \(auditctl -e 2\): .*refused by the test guard/);
  },
);
