// Someone's auditctl, from a login session, against real auditd: the feed reports each audit
// configuration change with the login behind it, a refused one as refused, and none of
// trail's own (trail watch has no login session).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditFeed, type ConfigChange } from '../../src/attribute/audit-feed.js';
import * as ctl from '../../src/attribute/auditctl.js';
import { run } from '../../src/util/exec.js';
import { auditdFor, auditReady, auditRecordsFlow, ensureUser, waitFor } from './helpers.js';

const why = await auditReady();

test(
  'audit configuration changed from a login session: each change with its login, refused ones said',
  { skip: why ? `real audit is not available: ${why}` : false },
  async (t) => {
    await auditdFor(t, 'shared');
    const down = await auditRecordsFlow();
    if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
    const base = mkdtempSync(join(tmpdir(), 'trail-audit-config-'));
    const file = join(base, 'watched-by-someone');
    writeFileSync(file, '');
    const key = `trailtest-cfg-${process.pid}`;
    const seen: ConfigChange[] = [];
    const feed = await AuditFeed.start({
      home: join(base, 'home'),
      backlogLimit: 0,
      configChanged: (c) => seen.push(c),
    });
    if (!(feed instanceof AuditFeed)) assert.fail(`no audit feed: ${feed.unavailable}`);
    try {
      // Logged in as trailcfg, then root (what sudo or su leaves): the login uid stays.
      const uid = ensureUser('trailcfg');
      const auditctl = (args: string[]) =>
        run('sh', [
          '-c',
          'echo "$1" > /proc/self/loginuid || exit 97; shift; exec "$@"',
          'login',
          String(uid),
          'auditctl',
          ...args,
        ]);
      await auditctl(['-w', file, '-p', 'wa', '-k', key]);
      await auditctl(['-W', file, '-p', 'wa', '-k', key]);
      // The same rule again: there is none to remove, and the kernel refuses.
      await auditctl(['-W', file, '-p', 'wa', '-k', key]).catch(() => undefined);
      // The feed reads the host's whole log: another test's changes may come in between.
      const ours = () => seen.filter((c) => c.what.includes(key));
      await waitFor('our three configuration changes read', () => ours().length >= 3, 30_000);
      const mine = ours();
      assert.deepEqual(
        mine.map((c) => [c.login, c.what.split(' ')[0], c.refused]),
        [
          ['trailcfg', 'add_rule', false],
          ['trailcfg', 'remove_rule', false],
          ['trailcfg', 'remove_rule', true],
        ],
        JSON.stringify(seen),
      );
      assert.ok(mine.every((c) => c.what.includes(`key="${key}"`)));
      const all = feed.configChanges();
      assert.ok(all.count >= 3 && all.logins.includes('trailcfg'), JSON.stringify(all));
      // trail's own rules (the barrier, exec) went in as this feed started, and as other
      // tests' feeds did: none of those is counted (no login uid, or this very session).
      assert.ok(!seen.some((c) => c.what.includes('key="trail-')), JSON.stringify(seen));
    } finally {
      await feed.close();
      await ctl.removeExecRulesIfUnused();
      rmSync(base, { recursive: true, force: true });
    }
  },
);
