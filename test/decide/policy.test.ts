import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy, PolicyError } from '../../src/decide/policy.js';
import { decide, changeTypes } from '../../src/decide/evaluate.js';
import { scanRules } from '../../src/decide/store.js';
import { makeRules } from '../../src/record/list/rules.js';
import { ROOT } from '../support/cli.js';

test('the shipped template is valid', () => {
  const p = parsePolicy(readFileSync(join(ROOT, 'templates', 'policy.yaml'), 'utf8'), 'template');
  assert.ok(p.rules.length >= 4);
});

test('every problem is reported at once, each with its line', () => {
  const text = [
    'version: 1',
    'default: ignore',
    'rules:',
    '  - paths: ssh/*',
    '    action: protekt',
    '  - paths: []',
    '    action: alert',
    '  - paths: x',
    '    action: run',
    '  - paths: y',
    '    action: hash',
    '    actors: [bob]',
    'colour: blue',
  ].join('\n');
  assert.throws(
    () => parsePolicy(text, 'p.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof PolicyError);
      assert.deepEqual(err.problems, [
        'line 2: default must be one of record, alert, protect, review, run (got "ignore")',
        'line 4 (rule 1): action must be one of record, ignore, secret, hash, log, reads, alert, protect, review, run (got "protekt")',
        'line 6 (rule 2): paths must be a glob or a list of globs',
        'line 8 (rule 3): action run needs a hook',
        'line 10 (rule 4): hash decides what is recorded at all, so it cannot depend on actors or changes',
        'line 13: unknown key "colour" (known: version, default, rules, alert, hooks, protect)',
      ]);
      return true;
    },
  );
  assert.throws(
    () => parsePolicy('rules:\n  - paths: [a\n', 'broken.yaml'),
    /broken.yaml: invalid policy\n  line \d+:/,
  );
  assert.throws(() => parsePolicy('alert:\n  webhook: http://x\n'), /webhookSecretFile/);
});

test('first match wins; actors and change types narrow a rule', () => {
  const p = parsePolicy(
    [
      'rules:',
      '  - paths: ["**"]',
      '    actors: ["@package"]',
      '    action: record',
      '  - paths: [ssh/sshd_config]',
      '    changes: [mode, owner]',
      '    action: alert',
      '  - paths: [ssh/**]',
      '    actors: ["!root"]',
      '    action: protect',
      'default: alert',
    ].join('\n'),
  );
  const change = (path: string, kind: 'modified' | 'metadata' | 'added', details: string[] = []) => ({
    path,
    change: kind,
    details,
  });
  assert.equal(decide(p, change('ssh/sshd_config', 'modified'), { name: 'apt', package: true }).action, 'record');
  assert.equal(decide(p, change('ssh/sshd_config', 'metadata', ['mode 0644 → 0666']), { name: 'bob' }).action, 'alert');
  assert.equal(decide(p, change('ssh/sshd_config', 'modified'), { name: 'bob' }).action, 'protect');
  assert.equal(
    decide(p, change('ssh/sshd_config', 'modified'), { name: 'root' }).action,
    'alert',
    'falls to the default',
  );
  assert.equal(decide(p, change('hosts', 'added'), { name: 'bob' }).rule, undefined);
  assert.deepEqual(
    changeTypes({ path: 'x', change: 'metadata', details: ['owner root → bob', 'mode 0644 → 0600'] }).sort(),
    ['mode', 'owner'],
  );
});

test('scan rules: the policy extends ignore/secrets and wins where they disagree', () => {
  const p = parsePolicy(
    [
      'rules:',
      '  - paths: ["*.cache"]',
      '    action: ignore',
      '  - paths: ["app/token"]',
      '    action: secret',
      '  - paths: ["boot/**"]',
      '    action: hash',
      '  - paths: ["public.key"]',
      '    action: record',
      '  - paths: ["ssh/**"]',
      '    action: protect',
    ].join('\n'),
  );
  const rules = makeRules(['tmp/**'], [], scanRules(p));
  assert.equal(rules.ignored('a/b.cache'), true);
  assert.equal(rules.ignored('tmp/x'), true, 'config ignore still applies');
  assert.equal(rules.secret('app/token'), true);
  assert.equal(rules.secret('public.key'), false, 'an explicit record rule overrides the built-in *.key secret');
  assert.equal(rules.secret('other.key'), true);
  assert.equal(rules.secret('ssh/ssh_host_rsa_key'), true, 'a protect rule defers to the built-in secrets');
  assert.equal(rules.hashOnly('boot/vmlinuz'), true);
});

test('globs match names with newlines and other odd bytes like any other name', () => {
  const rules = makeRules([], []);
  assert.equal(rules.secret('a/id\n.key'), true);
  assert.equal(rules.secret('caf\xe9/private/x'), true);
  assert.equal(rules.ignored('dir/.x\ny.swp'), true);
});
