// run() with an abort signal: the shape of a hung `git push`, a child that never ends and a
// grandchild (git's remote helper) that holds its pipes. An abort must end the run at once
// and leave neither behind, or a daemon that stops keeps a process hung on the network.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExecError, run } from '../../src/util/exec.js';
import { pidAlive } from '../../src/util/pid.js';
import { waitFor } from '../support/wait.js';

// The child starts a grandchild that shares its stdout and stderr, writes the grandchild's
// pid to the file named by its argument, and then waits for ever, as does the grandchild.
const HANGS = [
  "const { spawn } = require('node:child_process');",
  "const { writeFileSync } = require('node:fs');",
  "const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'inherit', 'inherit'] });",
  'writeFileSync(process.argv[1], String(g.pid));',
  'setInterval(() => {}, 1000);',
].join('\n');

test(
  'an aborted run fails at once with the reason, and kills the child with its grandchildren',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'trail-exec-'));
    const pidFile = join(dir, 'grandchild.pid');
    let grandchild = 0;
    t.after(() => {
      if (grandchild && pidAlive(grandchild)) process.kill(grandchild, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const ac = new AbortController();
    const ran = run(process.execPath, ['-e', HANGS, pidFile], { signal: ac.signal, timeoutMs: 300_000 });
    await waitFor('the grandchild to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 30_000);
    grandchild = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pidAlive(grandchild));
    ac.abort(new Error('the daemon stops'));
    await assert.rejects(ran, (err: unknown) => {
      assert.ok(err instanceof ExecError, String(err));
      assert.equal(err.result.code, -1);
      assert.match(err.result.stderr, /aborted: the daemon stops/);
      return true;
    });
    await waitFor('the grandchild to be gone', () => !pidAlive(grandchild), 10_000);
  },
);

test('a signal aborted before the run starts fails it at once', { timeout: 60_000 }, async () => {
  const ac = new AbortController();
  ac.abort(new Error('stopped already'));
  await assert.rejects(
    run(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { signal: ac.signal }),
    /aborted: stopped already/,
  );
});
