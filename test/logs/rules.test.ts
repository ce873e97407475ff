import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRules } from '../../src/record/list/rules.js';
import { rotationBase } from '../../src/record/list/rotated-names.js';
import { explainDifference } from '../../src/logs/stream.js';

test('log paths (setting and policy) and their rotated copies leave the content tree; the policy wins', () => {
  const rules = makeRules(
    [],
    [],
    [
      { paths: ['keep.log'], class: 'record' },
      { paths: ['audit/**'], class: 'log' },
    ],
    ['*.log'],
  );
  for (const p of [
    'auth.log',
    'auth.log.1',
    'auth.log.2.gz',
    'auth.log-20240131',
    'nginx/access.log.1.xz',
    'audit/x',
  ]) {
    assert.equal(rules.log(p), true, p);
    assert.equal(rules.ignored(p), true, p);
  }
  assert.equal(rules.log('keep.log'), false, 'an explicit record rule wins over logs.paths');
  assert.equal(rules.ignored('keep.log'), false);
  assert.equal(rules.log('hosts'), false);
  assert.equal(rules.log('hosts.1'), false, 'a numbered file is a rotated copy only of a log');
  assert.equal(makeRules([], []).log('auth.log'), false);
});

test('rotated names map to their log', () => {
  assert.equal(rotationBase('syslog.1'), 'syslog');
  assert.equal(rotationBase('syslog.12.gz'), 'syslog');
  assert.equal(rotationBase('a/b.log-2024013112.zst'), 'a/b.log');
  assert.equal(rotationBase('syslog'), undefined);
  assert.equal(rotationBase('syslog.gz'), undefined);
});

test('a deleted line is shown as that line, at its start', () => {
  const old = Buffer.from('a 1\nb 2 secret\nb 3\nc 4\n');
  const d = explainDifference(old, Buffer.from('a 1\nb 3\nc 4\nd 5\n'));
  assert.deepEqual([d?.at, d?.removed?.toString(), d?.inserted], [4, 'b 2 secret\n', undefined]);
  const ins = explainDifference(old, Buffer.from('a 1\nb 2 secret\nforged\nb 3\nc 4\n'));
  assert.deepEqual([ins?.at, ins?.inserted?.toString()], [15, 'forged\n']);
  assert.equal(
    explainDifference(old, Buffer.concat([old, Buffer.from('more\n')])),
    undefined,
    'appending is not a change',
  );
  assert.deepEqual(explainDifference(old, old.subarray(0, 4))?.removed?.toString(), 'b 2 secret\nb 3\nc 4\n');
});
