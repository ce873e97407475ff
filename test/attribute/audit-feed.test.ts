// AuditFeed.start against real auditd when its records do not reach the log trail reads:
// the feed must say so, with what the kernel says, and leave no rule behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditFeed } from '../../src/attribute/audit-feed.js';
import * as ctl from '../../src/attribute/auditctl.js';
import { Attributor } from '../../src/attribute/attributor.js';
import type { Change } from '../../src/record/model/diff.js';
import { auditdFor, auditdPid, auditReady, auditRecordsFlow, waitFor } from './helpers.js';
import { pidAlive } from '../../src/util/pid.js';

const why = await auditReady();
const opts = { skip: why ? `real audit is not available: ${why}` : false };

test(
  'records that never reach the log: unavailable, with the wait, auditd and the kernel backlog named; no rule left',
  opts,
  async (t) => {
    await auditdFor(t, 'shared');
    const base = mkdtempSync(join(tmpdir(), 'trail-feed-nolog-'));
    const home = join(base, 'home');
    // A log auditd never writes to: what write_logs=no or another log_file look like to trail.
    const logFile = join(base, 'audit.log');
    writeFileSync(logFile, '');
    try {
      const r = await AuditFeed.start({ home, logFile, backlogLimit: 0, barrierTimeoutMs: 500 });
      assert.ok(!(r instanceof AuditFeed), 'no feed when its records are not where it reads');
      assert.match(
        (r as { unavailable: string }).unavailable,
        new RegExp(
          `^no audit record reached ${logFile} within 0\\.5 s \\(auditd pid \\d+( then (\\d+|none))?, \\d+ records lost meanwhile, backlog \\d+ of \\d+; is write_logs off, or another log_file set\\?\\)`,
        ),
      );
      const rules = spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout;
      assert.ok(!rules.includes(join(home, 'audit-sync')), `the barrier rule is gone:\n${rules}`);
    } finally {
      await ctl.removeExecRulesIfUnused();
      rmSync(base, { recursive: true, force: true });
    }
  },
);

test('a trail watch that stops leaves the execve rules to one that is starting', opts, async (t) => {
  await auditdFor(t, 'shared');
  const down = await auditRecordsFlow();
  if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
  const base = mkdtempSync(join(tmpdir(), 'trail-feed-exec-'));
  // The other one, midway through its start: its barrier rule and the execve rules are in,
  // its directories' rules not yet.
  const starting = join(base, 'audit-sync');
  writeFileSync(starting, '');
  try {
    const feed = await AuditFeed.start({ home: join(base, 'home'), backlogLimit: 0 });
    if (!(feed instanceof AuditFeed)) assert.fail(`no audit feed: ${feed.unavailable}`);
    await ctl.addWatch(starting, 'wa', ctl.SYNC_KEY);
    await ctl.addExecRules();
    await feed.close();
    const rules = await ctl.listRules();
    assert.ok(!ctl.missingExecArches(rules).includes('arch=b64'), `the execve rule stays:\n${rules.join('\n')}`);
  } finally {
    await ctl.removeWatch(starting, 'wa', ctl.SYNC_KEY);
    await ctl.removeExecRulesIfUnused();
    rmSync(base, { recursive: true, force: true });
  }
});

// Seen on CI: the runner's cleanup kills every process of a finished job with SIGKILL,
// auditd included, and the kernel goes on naming that pid until a record fails to reach it.
// The next job's `auditctl -s` showed a pid while every record was lost.
test('the pid the kernel names is dead: auditd is not running, and says which pid', opts, async () => {
  const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  const dead = Number(gone.stdout.trim());
  assert.equal(pidAlive(dead), false);
  ctl.runStatusWith(async () => ({
    stdout: Buffer.from(`enabled 1\nfailure 1\npid ${dead}\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\n`),
    stderr: '',
    code: 0,
  }));
  try {
    const s = await ctl.status();
    assert.equal(s.pid, 0);
    assert.equal(s.deadPid, dead);
    assert.equal(
      ctl.notRunning(s),
      `auditd is not running: pid ${dead}, which the kernel still names as its audit daemon, has exited (killed or crashed)`,
    );
    const base = mkdtempSync(join(tmpdir(), 'trail-feed-dead-'));
    try {
      const r = await AuditFeed.start({ home: join(base, 'home'), backlogLimit: 0 });
      assert.ok(!(r instanceof AuditFeed));
      assert.match((r as { unavailable: string }).unavailable, new RegExp(`^auditd is not running: pid ${dead}, `));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  } finally {
    ctl.runStatusWith(undefined);
  }
});

test('auditd killed with SIGKILL: not running for trail; a new auditd takes its place', opts, async (t) => {
  await auditdFor(t, 'exclusive');
  const pid = auditdPid();
  assert.ok(pid > 0, 'auditd runs before the test');
  try {
    process.kill(pid, 'SIGKILL');
    await waitFor('auditd to be gone', () => !pidAlive(pid), 10_000);
    const s = await ctl.status();
    assert.equal(s.pid, 0, 'a killed auditd is not a running one');
    // Unless a record of another test has reached the kernel meanwhile, it still names the pid.
    assert.ok(s.deadPid === undefined || s.deadPid === pid, `deadPid ${s.deadPid}, killed ${pid}`);
  } finally {
    assert.equal(await auditReady(), undefined, 'a new auditd starts over the dead one');
  }
  assert.notEqual(auditdPid(), pid);
  assert.equal((await ctl.status()).deadPid, undefined);
});

// A rogue root kills auditd, changes a file and starts auditd again before trail's next
// window: the kernel (not booted with audit=1) dropped the record without counting it lost,
// and the new auditd's pid is all that is left. The window is driven by hand, so that it
// looks only once auditd is back, as it would after a quick restart.
test('auditd killed and started again between two windows: the change says its record was dropped', opts, async (t) => {
  await auditdFor(t, 'exclusive');
  const down = await auditRecordsFlow();
  if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
  if (/(^|\s)audit=1(\s|$)/.test(readFileSync('/proc/cmdline', 'latin1')))
    return void t.skip('booted with audit=1: the kernel holds the records for the next auditd');
  const base = mkdtempSync(join(tmpdir(), 'trail-feed-restart-'));
  const dir = join(base, 'w');
  mkdirSync(dir);
  writeFileSync(join(dir, 'f.conf'), 'v1\n');
  const feed = await AuditFeed.start({ home: join(base, 'home'), backlogLimit: 0 });
  if (!(feed instanceof AuditFeed)) assert.fail(`no audit feed: ${feed.unavailable}`);
  try {
    await feed.addDir('feed-restart', dir);
    const attributor = new Attributor(feed, 'feed-restart', dir, join(base, 'home'));
    await attributor.plan([], Date.now());
    process.kill(auditdPid(), 'SIGKILL');
    await waitFor('auditd to die', () => auditdPid() === 0, 60_000);
    writeFileSync(join(dir, 'f.conf'), 'v2\n');
    assert.equal(await auditReady(), undefined);
    const plan = await attributor.plan([{ path: 'f.conf' } as Change], Date.now());
    assert.equal(plan.commits.length, 1);
    assert.equal(plan.commits[0]!.actor.name, 'unknown');
    assert.match(
      plan.commits[0]!.trailers['Trail-Actor']!,
      /^unknown \(auditd pid \d+ began receiving audit records at .*; records of changes made before, while no auditd received them, were dropped uncounted/,
    );
  } finally {
    await feed.close();
    rmSync(base, { recursive: true, force: true });
  }
});
