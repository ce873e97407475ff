// The daemon starts getfattr and auditctl -s through one long-lived shell (spawner.ts), which
// is never given an argument as shell text (they go through xargs -0 as data): the words must
// reach the program exactly as an argument array would, whatever bytes they hold, and what
// it says back must be exactly what the program printed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Spawner } from '../../src/attribute/spawner.js';
import { run } from '../../src/util/exec.js';

const sp = new Spawner();
const dir = mkdtempSync(join(tmpdir(), 'trail-spawner-'));
after(() => {
  sp.close();
  rmSync(dir, { recursive: true, force: true });
});

const hostile = [
  "it's",
  'a b',
  '$(touch pwned)',
  '`id`',
  '"; echo x',
  'line\nbreak',
  '\\',
  '*',
  '-n',
  '',
  "'",
  "''\\''",
  'é ü',
  '\x1e',
  ';exit 3',
];

test('arguments reach the program byte for byte, and its output comes back whole', async () => {
  for (const a of hostile) {
    const direct = await run('printf', ['%s|', a, a], { cwd: dir });
    const viaShell = await sp.run('printf', ['%s|', a, a], { cwd: dir });
    assert.deepEqual(viaShell.stdout, direct.stdout, JSON.stringify(a));
    assert.equal(viaShell.code, 0);
  }
  assert.equal((await sp.run('printf', ['%s', 'no newline at the end'])).stdout.toString(), 'no newline at the end');
  assert.equal((await sp.run('printf', [''])).stdout.length, 0);
  // More than a pipe holds (64 KB), each under Linux's 128 KB for one argument.
  const big = 'x'.repeat(100_000);
  assert.equal((await sp.run('printf', ['%s\n', big, big])).stdout.toString(), `${big}\n${big}\n`);
  assert.equal(existsSync(join(dir, 'pwned')), false);
});

test('programs are started by the shell (through xargs), not by this process', async () => {
  const parent = await sp.run('sh', ['-c', 'cat /proc/$PPID/comm']);
  assert.equal(parent.stdout.toString().trim(), 'xargs');
  const direct = await run('sh', ['-c', 'cat /proc/$PPID/comm']);
  assert.notEqual(direct.stdout.toString().trim(), 'xargs');
});

test('cwd, accepted exit codes and failures are those of a direct run', async () => {
  writeFileSync(join(dir, "it's here"), 'x');
  assert.equal((await sp.run('ls', [], { cwd: dir })).stdout.toString(), "it's here\n");
  const odd = join(dir, "$(touch pwned) 'q'\nx");
  mkdirSync(odd);
  assert.equal((await sp.run('pwd', [], { cwd: odd })).stdout.toString(), `${odd}\n`);
  assert.equal(existsSync(join(dir, 'pwned')), false);
  // The shell's own folder did not change.
  assert.notEqual((await sp.run('pwd', [])).stdout.toString().trim(), dir);
  assert.equal((await sp.run('sh', ['-c', 'echo out; exit 1'], { okCodes: [0, 1] })).code, 1);
  await assert.rejects(sp.run('sh', ['-c', 'echo why >&2; exit 2']), /why/);
  await assert.rejects(sp.run('no-such-program-for-trail', []), /ENOENT/);
  // Calls at once are answered each with its own output.
  const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => sp.run('printf', ['%s', `n${i}`])));
  assert.deepEqual(
    outs.map((o) => o.stdout.toString()),
    Array.from({ length: 20 }, (_, i) => `n${i}`),
  );
});

test('a shell that is gone is replaced; a closed spawner runs programs directly', async () => {
  // `exit` is the shell's own: it ends the shell (the direct run then finds no such program).
  await assert.rejects(sp.run('exit', ['0']), /ENOENT/);
  assert.equal((await sp.run('printf', ['%s', 'again'])).stdout.toString(), 'again');
  const other = new Spawner();
  other.close();
  assert.equal((await other.run('printf', ['%s', 'direct'])).stdout.toString(), 'direct');
});
