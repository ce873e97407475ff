// Hooks run as real processes (src/act/hooks.ts): what a hook does with its time, its output
// and what it starts must never hold up the commit whose policy ran it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runHook } from '../../src/act/hooks.js';
import { tempDir } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

function hooksFolder(t: { after(fn: () => void): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const before = process.env.TRAIL_HOOKS_DIR;
  process.env.TRAIL_HOOKS_DIR = tmp.path;
  t.after(() => {
    if (before === undefined) delete process.env.TRAIL_HOOKS_DIR;
    else process.env.TRAIL_HOOKS_DIR = before;
  });
  return tmp.path;
}

test(
  'a hook that leaves something running in its own session is done at its timeout, not when that ends',
  { timeout: 120_000 },
  async (t) => {
    // That process escapes the group kill and holds the hook's stderr: runHook waited for the
    // pipe to close, for ever, with the commit's write lock held (trail snapshot hung).
    const dir = hooksFolder(t);
    const pidFile = join(dir, 'left.pid');
    writeFileSync(
      join(dir, 'leaves'),
      `#!/bin/sh\nsetsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' &\necho started >&2\nexit 0\n`,
      { mode: 0o755 },
    );
    const r = await runHook('leaves', { event: 'run' }, 500);
    assert.equal(r.ok, false);
    assert.match(r.problem ?? '', /^exited \(code 0\), but what it started still ran after 500 ms/);
    assert.equal(r.stderr, 'started');
    // What it left is still there (it escaped the group kill): ended here, by its pid.
    await waitFor('the left process to write its pid', () => {
      try {
        return readFileSync(pidFile, 'utf8').trim() !== '';
      } catch {
        return false;
      }
    });
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  },
);

test('a hook that hangs is killed with what it started, and said so', async (t) => {
  const dir = hooksFolder(t);
  writeFileSync(join(dir, 'hangs'), '#!/bin/sh\nsleep 1000 &\nsleep 1000\n', { mode: 0o755 });
  const r = await runHook('hangs', {}, 300);
  assert.deepEqual([r.ok, r.problem], [false, 'killed after 300 ms']);
});

for (const [what, spoil] of [
  ['writable by others', (d: string) => chmodSync(d, 0o777)],
  ['owned by another user', (d: string) => chownSync(d, 4321, 4321)],
] as const) {
  test(`a safe hook in a folder ${what} is not run: that user could swap it between the check and the run`, async (t) => {
    const dir = hooksFolder(t);
    const ran = join(dir, 'ran');
    writeFileSync(join(dir, 'notify'), `#!/bin/sh\ntouch ${ran}\n`, { mode: 0o755 });
    assert.equal((await runHook('notify', {}, 60_000)).ok, true, 'runs in a folder of its own');
    rmSync(ran);
    spoil(dir);
    const r = await runHook('notify', {}, 60_000);
    assert.equal(r.ok, false);
    assert.match(r.problem ?? '', /^hooks folder .* refusing to run its hooks$/);
    assert.equal(existsSync(ran), false, 'not run');
  });
}

test('a hook folder reached through a symlink is judged where it is; a sticky folder above it is fine', async (t) => {
  const dir = hooksFolder(t);
  const real = join(dir, 'real');
  mkdirSync(real, { mode: 0o777 });
  chmodSync(real, 0o777);
  writeFileSync(join(real, 'notify'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  symlinkSync(real, join(dir, 'link'));
  process.env.TRAIL_HOOKS_DIR = join(dir, 'link');
  assert.match((await runHook('notify', {}, 60_000)).problem ?? '', /hooks folder .*\/real is writable by others/);
  chmodSync(real, 0o1777);
  assert.equal((await runHook('notify', {}, 60_000)).ok, true);
});

test("a hook's stderr: its first 4 KiB, characters whole however the reads fall; a flood neither blocks nor grows", async (t) => {
  const dir = hooksFolder(t);
  // "é" is two bytes: written one byte at a time, each half in a read of its own.
  writeFileSync(
    join(dir, 'accents'),
    `#!/bin/sh\nprintf '\\303' >&2; sleep 0.2; printf '\\251t\\303' >&2; sleep 0.2; printf '\\251\\n' >&2\n`,
    { mode: 0o755 },
  );
  const r = await runHook('accents', {}, 60_000);
  assert.equal(r.ok, true, r.problem);
  assert.equal(r.stderr, 'été');
  writeFileSync(join(dir, 'floods'), '#!/bin/sh\nhead -c 1000000 /dev/zero | tr "\\0" x >&2\necho done\n', {
    mode: 0o755,
  });
  const f = await runHook('floods', {}, 60_000);
  assert.equal(f.ok, true, f.problem);
  assert.equal(f.stderr, 'x'.repeat(4096));
});
