// The audit state a checkpoint records, against `auditctl -s` read here by hand. Read-only:
// no rule is added or removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { auditState } from '../../src/attribute/audit-state.js';

test('auditState reads enabled, lost and backlog from auditctl -s, and keeps the serial it is given', async (t) => {
  const s = spawnSync('auditctl', ['-s'], { encoding: 'utf8' });
  if (s.status !== 0) return t.skip(`auditctl -s does not run here: ${s.error?.message ?? s.stderr}`);
  const field = (k: string) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(s.stdout)![1]);
  const a = await auditState(4242);
  assert.equal(a.enabled, field('enabled'));
  assert.equal(a.lastSerial, 4242);
  // lost and backlog move on a busy host: never below what was read before.
  assert.ok(a.lost! >= field('lost'));
  assert.equal(typeof a.backlog, 'number');
});

test('without auditctl every field is unknown (null), never a made-up zero', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    assert.deepEqual(await auditState(), {
      enabled: null,
      lost: null,
      backlog: null,
      lastSerial: null,
      configChanges: null,
      configChangedBy: null,
      loginRewrites: null,
      auditdRestarts: null,
    });
  } finally {
    process.env.PATH = path;
  }
});

// The kernel answers audit requests only from the initial user namespace: in a container or
// an `unshare --user` namespace, auditctl -s waits 8 s for a netlink answer, prints nothing
// and exits 0 — which once became "enabled 0, lost 0" in checkpoints, after an 8 s wait.
test('in a user namespace of its own, the audit state is unknown (null), and says why', async (t) => {
  if (spawnSync('unshare', ['--user', '--map-root-user', 'true']).status !== 0)
    return t.skip('unshare --user is not available here');
  const auditctl = new URL('../../src/attribute/auditctl.js', import.meta.url).href;
  const state = new URL('../../src/attribute/audit-state.js', import.meta.url).href;
  const script = `
    const { status, available } = await import(${JSON.stringify(auditctl)});
    const { auditState } = await import(${JSON.stringify(state)});
    const why = await status().then(() => 'answered', (e) => e.message);
    console.log(JSON.stringify({ why, state: await auditState(7), available: await available() }));`;
  const r = spawnSync('unshare', ['--user', '--map-root-user', process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { why: string; state: unknown; available: { ok: boolean; why?: string } };
  assert.match(got.why, /initial user namespace/);
  assert.deepEqual(got.state, {
    enabled: null,
    lost: null,
    backlog: null,
    lastSerial: 7,
    configChanges: null,
    configChangedBy: null,
    loginRewrites: null,
    auditdRestarts: null,
  });
  assert.equal(got.available.ok, false);
  assert.match(got.available.why!, /initial user namespace/);
});

test('outOfReach: the host initial user namespace is in reach, any other map is not', async () => {
  const { outOfReach } = await import('../../src/attribute/auditctl.js');
  assert.equal(outOfReach('         0          0 4294967295\n'), undefined);
  assert.match(outOfReach('         0          0          1\n')!, /user namespace of its own/);
  assert.match(outOfReach('         0     100000      65536\n')!, /user namespace of its own/);
  assert.equal(outOfReach(undefined), undefined, 'no /proc: nothing known, auditctl is asked');
});
