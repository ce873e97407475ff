// A large --json answer read through a pipe arrives whole: the command exits only once its
// output has gone out (Node writes to pipes asynchronously).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initTrail, trail } from '../support/cli.js';

test('status --json with thousands of changes parses whole from a pipe', async (t) => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 3000; i++) files[`d${i % 30}/file-with-a-longish-name-${i}.conf`] = `${i}\n`;
  const s = await initTrail(t, files);
  for (let i = 0; i < 30; i++) rmSync(join(s.dir, `d${i}`), { recursive: true });
  const r = await trail(s.home, ['status', '--json']);
  assert.ok(
    r.json,
    `stdout is not whole JSON (${r.stdout.length} bytes, ends with ${JSON.stringify(r.stdout.slice(-40))})`,
  );
  assert.ok(r.stdout.length > 128 * 1024, `only ${r.stdout.length} bytes: the test needs more than a pipe buffer`);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(JSON.stringify(r.json).includes('file-with-a-longish-name-2999.conf'), true);
});
