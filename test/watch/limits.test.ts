import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, Daemon, Fixture, scratch } from './helpers.js';

const tmp = scratch('limits');
after(() => tmp.cleanup());

// inotify limits are per user namespace: a namespace of our own gets a tiny limit without
// touching the host's (other processes on this machine keep theirs).
const LIMIT_WRAP = [
  'unshare',
  '--user',
  '--map-root-user',
  'sh',
  '-c',
  'echo 4 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"',
];
const canLimit = spawnSync(LIMIT_WRAP[0]!, [...LIMIT_WRAP.slice(1), 'true']).status === 0;

describe('trail watch under faults', () => {
  it(
    'names the sysctl when the inotify watch limit is reached and falls back to full reconciles',
    { skip: canLimit ? false : 'unshare --user is not available here' },
    async () => {
      const f = new Fixture(join(tmp.dir, 'limit'));
      for (let i = 0; i < 10; i++) {
        mkdirSync(join(f.work, `d${i}`));
        writeFileSync(join(f.work, `d${i}`, 'f'), `${i}\n`);
      }
      await f.init({ 'watch.reconcileSeconds': '1' });
      const d = new Daemon(f, [], { wrap: LIMIT_WRAP });
      await d.started();
      const limit = d.lines.find((l) => l.event === 'watch-limit');
      assert.ok(limit, `no watch-limit line in ${JSON.stringify(d.lines.map((l) => l.event))}`);
      assert.equal(limit.level, 'error');
      assert.match(limit.msg, /fs\.inotify\.max_user_watches/);
      // No events now: the periodic reconcile must still record this.
      writeFileSync(join(f.work, 'd7', 'f'), 'changed without a watch\n');
      writeFileSync(join(f.work, 'd9', 'new'), 'new\n');
      await f.waitInSync('changes recorded by the fallback reconcile');
      assert.ok((await f.commits()).some((c) => c.action === 'watch-reconcile'));
      const exit = await d.stop();
      assert.equal(exit.code, 0);
    },
  );

  it('installs and removes the systemd unit, filled in for this host', async () => {
    const f = new Fixture(join(tmp.dir, 'svc'));
    await f.init();
    const units = join(tmp.dir, 'units');
    const inst = await f.trail(['service', 'install', '--unit-dir', units, '--no-start']);
    assert.match(inst.stdout.toString(), /installed .*trail\.service/);
    const unit = readFileSync(join(units, 'trail.service'), 'utf8');
    assert.doesNotMatch(unit, /@[A-Z_]+@/, 'every placeholder filled');
    assert.match(unit, new RegExp(`^ExecStart=${process.execPath} --max-semi-space-size=2 ${BIN} watch$`, 'm'));
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^ProtectSystem=strict$/m);
    const rw = /^ReadWritePaths=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
    for (const p of [f.gitDir, f.work, f.home]) assert.ok(rw.includes(`-${p}`), `${p} writable in ${rw.join(' ')}`);
    assert.match(unit, /^PrivateTmp=no$/m, 'a private /tmp would hide the watched dir under /tmp');
    assert.match(unit, new RegExp(`^Environment=TRAIL_HOME=${f.home}$`, 'm'));
    // What the unit allows is what trail needs: auditctl (rules, the lost-records counter)
    // runs with only the unit's capabilities, over netlink.
    assert.match(unit, /^RestrictAddressFamilies=.*\bAF_NETLINK\b/m);
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
    if (existsSync('/usr/bin/setpriv') && spawnSync('auditctl', ['-s']).status === 0) {
      const bounded = `-all,${caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',')}`;
      for (const args of [['-s'], ['-l']]) {
        const a = spawnSync('setpriv', [`--bounding-set=${bounded}`, '--', 'auditctl', ...args], { encoding: 'utf8' });
        assert.equal(a.status, 0, `auditctl ${args.join(' ')} under ${caps.join(' ')}: ${a.stdout}${a.stderr}`);
      }
    }
    assert.match(unit, /^Environment=MALLOC_ARENA_MAX=2 /m);
    if (existsSync('/usr/bin/systemd-analyze')) {
      const v = spawnSync('systemd-analyze', ['verify', join(units, 'trail.service')], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stderr);
    }
    const again = await f.trail(['service', 'install', '--unit-dir', units, '--no-start']);
    assert.match(again.stdout.toString(), /unchanged/);
    const un = await f.trail(['service', 'uninstall', '--unit-dir', units]);
    assert.match(un.stdout.toString(), /removed/);
    assert.equal(existsSync(join(units, 'trail.service')), false);
    const un2 = await f.trail(['service', 'uninstall', '--unit-dir', units]);
    assert.match(un2.stdout.toString(), /was not installed/);
  });
});
