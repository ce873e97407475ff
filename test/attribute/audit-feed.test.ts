// AuditFeed.start against real auditd when its records do not reach the log trail reads:
// the feed must say so, with what the kernel says, and leave no rule behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditFeed } from '../../src/attribute/audit-feed.js';
import * as ctl from '../../src/attribute/auditctl.js';
import { auditdFor, auditReady } from './helpers.js';

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
          `^no audit record reached ${logFile} within 0\\.5 s \\(auditd pid \\d+, \\d+ records lost meanwhile, backlog \\d+ of \\d+; is write_logs off, or another log_file set\\?\\)`,
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
