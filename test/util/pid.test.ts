// pidAlive decides whether a lock's owner, or the auditd the kernel names, still runs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pidAlive } from '../../src/util/pid.js';
import { waitFor } from '../support/wait.js';

test('a running process is alive; one that exited, reaped or a zombie, is not', async (t) => {
  // `sleep 0.1` is left to a parent that execs into `sleep 30` and so never reaps it: once it
  // exits it is a zombie, which still answers signal 0.
  const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
  const child = Number(line.toString().trim());
  assert.ok(pidAlive(parent.pid!));
  await waitFor(
    'the child to be a zombie',
    () => /\) Z /.test(stat(child)),
    10_000,
    () => stat(child),
  );
  assert.doesNotThrow(() => process.kill(child, 0), 'a zombie answers signal 0');
  assert.equal(pidAlive(child), false);

  const reaped = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  assert.equal(pidAlive(Number(reaped.stdout.trim())), false);
});

test('a pid that is not one (an owner on another host, a garbled lock) is not called dead', () => {
  for (const pid of [0, -1, 1.5, Number.NaN]) assert.equal(pidAlive(pid), true, String(pid));
});

function stat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return 'gone';
  }
}
