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
    assert.deepEqual(await auditState(), { enabled: null, lost: null, backlog: null, lastSerial: null });
  } finally {
    process.env.PATH = path;
  }
});
