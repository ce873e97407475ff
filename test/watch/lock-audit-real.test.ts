// attribute.lockAudit for real: trail watch runs `auditctl -e 2`, and the kernel's audit rules
// are then fixed until the machine reboots — trail's, and everyone's. Opt-in only
// (TRAIL_LOCK_AUDIT_TEST=1), on a throwaway machine: after it, no audit rule can be added or
// removed, so the other audit tests (test/attribute, test/watch) cannot run until a reboot,
// and the rules this test leaves cannot be removed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { asLogin, auditReady, ensureUser, Fixture, waitFor, Watch } from '../attribute/helpers.js';

const SKIP = "locks the kernel's audit rules until reboot: set TRAIL_LOCK_AUDIT_TEST=1 on a throwaway machine";
const wanted = process.env.TRAIL_LOCK_AUDIT_TEST === '1';
const why = wanted ? await auditReady() : undefined;

function auditctl(args: string[]): string {
  return spawnSync('auditctl', args, { encoding: 'utf8' }).stdout;
}

test(
  'trail watch with attribute.lockAudit locks the audit rules with its own in, attributes changes, and restarts',
  { skip: !wanted ? SKIP : why ? `real audit is not available: ${why}` : false, timeout: 600_000 },
  async () => {
    ensureUser('bob');
    ensureUser('alice');
    const f = new Fixture('lockreal');
    writeFileSync(join(f.work, 'secret.key'), 'k\n', { mode: 0o644 });
    await f.init();
    await f.trail(['--name', f.name, 'config', 'set', 'access.paths', 'secret.key']);
    await f.trail(['--name', f.name, 'config', 'set', 'attribute.lockAudit', 'true']);
    const rules = [
      `-w ${f.work} -p wa -k trail-${f.name}`,
      `-w ${join(f.home, 'audit-sync')} -p wa -k trail-sync`,
      `-w ${join(f.work, 'secret.key')} -p r -k trail-access-${f.name}`,
      '-a always,exit -F arch=b64 -S execve -F auid!=-1 -F key=trail-exec',
    ];
    const commitOf = async (w: Watch, path: string) => {
      let c: Awaited<ReturnType<Fixture['commitOf']>>;
      await waitFor(
        `a commit of ${path}`,
        async () => !!(c = await f.commitOf(path)),
        90_000,
        () => w.stderr,
      );
      return c!;
    };

    const first = new Watch(f);
    try {
      await first.started();
      await waitFor(
        'the lock',
        () => /"event":"audit-lock"/.test(first.stdout),
        30_000,
        () => first.stdout,
      );
      assert.match(first.stdout, /locked the kernel's audit rules until reboot \(auditctl -e 2\)/);
      assert.match(auditctl(['-s']), /^enabled 2$/m);
      const listed = auditctl(['-l']);
      for (const r of rules) assert.ok(listed.includes(r), `${r}\n${listed}`);
      await asLogin('bob', ['sh', '-c', 'echo by-bob > "$1"', 'sh', join(f.work, 'bob.conf')]);
      const c = await commitOf(first, 'bob.conf');
      assert.equal(c.author, 'bob', c.body);
    } finally {
      await first.stop();
    }
    // Stopped: the kernel kept every rule (trail could not remove them, and did not try).
    const kept = auditctl(['-l']);
    for (const r of rules) assert.ok(kept.includes(r), `kept after stop: ${r}\n${kept}`);
    assert.match(first.stdout, /stay in the kernel, not removed/);

    const second = new Watch(f);
    try {
      await second.started();
      await waitFor(
        'the lock state',
        () => /"event":"audit-lock"/.test(second.stdout),
        30_000,
        () => second.stdout,
      );
      assert.match(second.stdout, /already locked \(auditctl -e 2\) until reboot/);
      assert.match(auditctl(['-s']), /^enabled 2$/m);
      await asLogin('alice', ['sh', '-c', 'echo by-alice > "$1"', 'sh', join(f.work, 'alice.conf')]);
      const c = await commitOf(second, 'alice.conf');
      assert.equal(c.author, 'alice', c.body);
      const doctor = JSON.parse((await f.trail(['doctor', '--json'])).stdout.toString()) as {
        audit: { locked: boolean; enabled: number; lockAudit: string[] };
      };
      assert.equal(doctor.audit.enabled, 2);
      assert.equal(doctor.audit.locked, true);
      assert.deepEqual(doctor.audit.lockAudit, [f.name]);
    } finally {
      await second.stop();
    }
    // The watched directory is left: its rules cannot be removed before a reboot anyway.
  },
);
