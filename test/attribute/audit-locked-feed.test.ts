// trail's audit feed against real auditd and real audit rules, told by `auditctl -s` that the
// kernel is locked (enabled 2): the host's own status, read each time, with only that flag
// set, because locking this machine for real would hold its audit rules until reboot (the
// real lock: test/watch/lock-audit-real.test.ts, opt-in). The kernel is in fact unlocked, so
// any rule, backlog or removal trail wrongly attempted would succeed and show in the real
// `auditctl -l` / `auditctl -s` read here: that is what these tests look at.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditFeed, auditLogPath } from '../../src/attribute/audit-feed.js';
import * as ctl from '../../src/attribute/auditctl.js';
import { run } from '../../src/util/exec.js';
import { auditdFor, auditReady, auditRecordsFlow } from './helpers.js';

const why = await auditReady();
const opts = { skip: why ? `real audit is not available: ${why}` : false };

function realRules(): string[] {
  return ctl.parseRules(spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout);
}
function realStatus(): ctl.AuditStatus {
  return ctl.parseStatus(spawnSync('auditctl', ['-s'], { encoding: 'utf8' }).stdout);
}

/** `auditctl -s` of this host with "enabled 2". */
function sayLocked(): void {
  ctl.runStatusWith(async (cmd, args, o) => {
    const r = await run(cmd, args, o);
    return { ...r, stdout: Buffer.from(r.stdout.toString('utf8').replace(/^enabled 1$/m, 'enabled 2')) };
  });
}

test(
  'locked at start without the barrier rule: unavailable with the reason, no rule and no backlog tried',
  opts,
  async (t) => {
    await auditdFor(t, 'shared');
    const base = mkdtempSync(join(tmpdir(), 'trail-locked-feed-'));
    const home = join(base, 'home');
    const notices: string[] = [];
    const before = realStatus();
    sayLocked();
    try {
      const r = await AuditFeed.start({
        home,
        notice: (m) => notices.push(m),
        // Above what the host has: a -b would show in the real backlog_limit.
        backlogLimit: before.backlogLimit + 1024,
      });
      assert.ok(!(r instanceof AuditFeed), 'no feed without the barrier rule');
      assert.equal(
        (r as { unavailable: string }).unavailable,
        `audit rules are locked (auditctl -e 2) until reboot and trail's rule for ${join(home, 'audit-sync')} is missing`,
      );
      assert.ok(
        notices.some((n) => /locked .* backlog stays at/.test(n)),
        notices.join('\n'),
      );
      assert.ok(!realRules().some((l) => l.includes(home)), 'no rule was added');
      assert.equal(realStatus().backlogLimit, before.backlogLimit, 'the backlog was not changed');
    } finally {
      ctl.runStatusWith(undefined);
      rmSync(base, { recursive: true, force: true });
    }
  },
);

test(
  'locked after start: a new directory degrades with the reason, nothing is added, nothing removed at close',
  opts,
  async (t) => {
    await auditdFor(t, 'shared');
    // This test needs records: where the host's own do not reach the log now (checked
    // without trail's code), it says so instead of blaming trail.
    const down = await auditRecordsFlow();
    if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
    const base = mkdtempSync(join(tmpdir(), 'trail-locked-feed-'));
    const home = join(base, 'home');
    const a = join(base, 'a');
    const b = join(base, 'b');
    mkdirSync(a);
    mkdirSync(b);
    const name = `lockfeed${process.pid}`;
    const notices: string[] = [];
    const started = await AuditFeed.start({ home, notice: (m) => notices.push(m), backlogLimit: 0 });
    if (!(started instanceof AuditFeed)) {
      // Whether auditd wrote the barrier's record at all tells the kernel's side from trail's.
      const log = auditLogPath();
      const written = [log, `${log}.1`].some((l) => existsSync(l) && readFileSync(l, 'latin1').includes(home));
      rmSync(base, { recursive: true, force: true });
      assert.fail(
        `no audit feed: ${started.unavailable}; a record naming ${home} is ${written ? '' : 'not '}in ${log}`,
      );
    }
    const feed = started;
    const lineA = ctl.watchLine(a, 'wa', ctl.watchKey(`${name}-a`));
    const sync = ctl.watchLine(join(home, 'audit-sync'), 'wa', ctl.SYNC_KEY);
    try {
      assert.equal(await feed.addDir(`${name}-a`, a), undefined);
      assert.ok(realRules().includes(lineA));
      sayLocked();
      const reason = ctl.lockedMissingReason(b);
      assert.equal(await feed.addDir(`${name}-b`, b), reason);
      assert.ok(!realRules().some((l) => l.includes(b)), 'no rule was tried for b');
      assert.ok(notices.some((n) => n.includes(reason) && n.includes('unknown')));
      const view = await feed.window(`${name}-b`);
      // Records lost meanwhile on this shared host (any process's) rightly take precedence.
      if (view.lostRecords) assert.match(view.degraded!, /lost/);
      else assert.equal(view.degraded, reason);
      // The directory whose rule is in is not degraded by the lock.
      const va = await feed.window(`${name}-a`);
      if (!va.lostRecords) assert.equal(va.degraded, undefined);

      await feed.close();
      assert.ok(
        notices.some((n) => /locked .* stay in the kernel, not removed/.test(n)),
        notices.join('\n'),
      );
      const left = realRules();
      assert.ok(left.includes(lineA), 'the directory rule stays');
      assert.ok(left.includes(sync), 'the barrier rule stays');
    } finally {
      ctl.runStatusWith(undefined);
      await feed.close().catch(() => undefined);
      spawnSync('auditctl', ['-W', a, '-p', 'wa', '-k', ctl.watchKey(`${name}-a`)]);
      spawnSync('auditctl', ['-W', join(home, 'audit-sync'), '-p', 'wa', '-k', ctl.SYNC_KEY]);
      await ctl.removeExecRulesIfUnused();
      rmSync(base, { recursive: true, force: true });
    }
    assert.ok(!realRules().some((l) => l.includes(base)), 'cleaned up');
  },
);
