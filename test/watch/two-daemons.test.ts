// Two `trail watch` processes started at once on the same trail (a unit and a forgotten
// foreground run): one writer at a time through the lock, nothing lost, nothing corrupted.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { auditdFor, auditReady } from '../attribute/helpers.js';
import { Daemon, Fixture, scratch } from './helpers.js';

const auditSkip = await auditReady().then((why) => (why ? `real audit is not available: ${why}` : false));
const tmp = scratch('two');
after(() => tmp.cleanup());

it('two daemons on one trail: every change recorded once the dust settles, fsck clean', async () => {
  const f = new Fixture(join(tmp.dir, 't'));
  mkdirSync(join(f.work, 'd'));
  writeFileSync(join(f.work, 'd', 'seed'), 'seed\n');
  await f.init();
  const a = new Daemon(f);
  const b = new Daemon(f);
  try {
    await Promise.all([a.started(), b.started()]);
    for (let i = 0; i < 60; i++) {
      writeFileSync(join(f.work, 'd', `f${i % 20}`), `version ${i}\n`);
      if (i % 15 === 0) writeFileSync(join(f.work, `top${i}`), `${i}\n`);
    }
    await f.waitInSync('both daemons settle on the disk state');
    const fsck = await f.fsck();
    assert.equal(fsck.code, 0, fsck.stderr);
    assert.ok(!a.stderr.includes('corrupt') && !b.stderr.includes('corrupt'));
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  // Both stopped cleanly, and the trail still matches the disk.
  await f.waitInSync('after both stopped');
});

it(
  'the first of two daemons to stop leaves the audit rules the other relies on; the last removes them',
  { skip: auditSkip },
  async (t) => {
    await auditdFor(t, 'shared');
    const f = new Fixture(join(tmp.dir, 'audit'));
    writeFileSync(join(f.work, 'seed'), 'seed\n');
    await f.init();
    const rules = () => spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout.split('\n');
    const dirRule = `-w ${f.work} -p wa -k trail-${f.name}`;
    const syncRule = `-w ${join(f.home, 'audit-sync')} -p wa -k trail-sync`;
    const a = new Daemon(f);
    const b = new Daemon(f);
    try {
      await Promise.all([a.started(), b.started()]);
      assert.ok(rules().includes(dirRule) && rules().includes(syncRule), rules().join('\n'));
      await a.stop();
      assert.ok(rules().includes(dirRule), `the directory's rule went with the first daemon:\n${rules().join('\n')}`);
      assert.ok(rules().includes(syncRule), `the barrier rule went with the first daemon:\n${rules().join('\n')}`);
      assert.ok(a.lines.some((l) => /audit rule left in place for trail watch pid \d+/.test(l.msg)));
      // The one left still names who writes (root here, with no login session), not "unknown".
      writeFileSync(join(f.work, 'after-a-stopped'), 'x\n');
      await f.waitInSync('the write after the first daemon stopped');
      const c = (await f.commits()).filter((x) => x.action === 'watch').at(-1)!;
      assert.notEqual(c.author, 'unknown', c.body);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.equal(rules().includes(dirRule), false, 'the last daemon left its rule behind');
    assert.equal(rules().includes(syncRule), false, 'the last daemon left the barrier rule behind');
  },
);
