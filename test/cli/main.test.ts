// The command line itself: usage errors say what is wrong and keep the --json promise (one
// JSON document on stdout, errors included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trail, tempDir } from '../support/cli.js';

test('a mistyped command is named as unknown, with the nearest one, not "too many arguments"', async (t) => {
  const home = tempDir();
  t.after(home.cleanup);
  const r = await trail(home.path, ['statuz']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'statuz'/);
  assert.match(r.stderr, /Did you mean status\?/);
  assert.equal(r.stdout, '');
});

test('trail help and trail help CMD show help, exit 0', async (t) => {
  const home = tempDir();
  t.after(home.cleanup);
  const all = await trail(home.path, ['help']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^Usage: trail \[options\] \[command\]/);
  const one = await trail(home.path, ['help', 'status']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^Usage: trail status/);
});

test('--json: a usage error found by the parser is still one JSON document on stdout', async (t) => {
  const home = tempDir();
  t.after(home.cleanup);
  for (const args of [
    ['status', '--bogus', '--json'],
    ['statuz', '--json'],
    ['proof', '--json'],
    ['report', '--format', 'pdf', '--json'],
  ]) {
    const r = await trail(home.path, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.json, `${args.join(' ')}: stdout is not JSON: ${JSON.stringify(r.stdout)}`);
    assert.equal(r.json.error.code, 2);
    assert.ok(r.json.error.message && !r.json.error.message.startsWith('error:'), r.json.error.message);
    // The person at the terminal still reads it on stderr.
    assert.match(r.stderr, /error: /);
  }
});
