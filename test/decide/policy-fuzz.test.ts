// Malformed input to the policy parser: whatever the bytes, the answer is a policy or a
// PolicyError that names lines — never a crash, never another kind of exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePolicy, PolicyError } from '../../src/decide/policy.js';

const fragments = [
  'version: 1',
  'default: alert',
  'default: [x]',
  'rules:',
  '  - paths: a',
  '    action: protect',
  '    actors: [bob, "!@package"]',
  '    changes: [mode]',
  '    hook: x',
  '  -',
  '- x',
  'rules: 3',
  '  - {paths: [], action: run}',
  'alert: {webhook: 1}',
  'protect: {maxRestores: -1}',
  '&a [*a]',
  '{',
  '"\\u0000"',
  'hooks: null',
  ': :',
  '\t',
];

function parsesCleanly(text: string): boolean {
  try {
    parsePolicy(text, 'fuzz');
    return true;
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    assert.ok(err.problems.length > 0);
    for (const p of err.problems) assert.match(p, /^line (\d+|\?)/);
    return true;
  }
}

test('random text never crashes the policy parser', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), parsesCleanly), { numRuns: 1500 });
});

test('plausible but broken policies give line-numbered problems', () => {
  const doc = fc.array(fc.constantFrom(...fragments), { maxLength: 14 }).map((lines) => lines.join('\n'));
  fc.assert(fc.property(doc, parsesCleanly), { numRuns: 1500 });
});
