// What a commit says of the processes behind it comes from the audit records, which name
// paths anyone may choose (an exe in /tmp): they must not forge lines of the commit message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe } from '../../src/attribute/attributor.js';
import type { ActorInfo } from '../../src/attribute/split.js';

const actor = (over: Partial<ActorInfo>): ActorInfo => ({
  uid: 0,
  euid: 0,
  pid: 100,
  ppid: 1,
  exe: '/usr/bin/sh',
  tty: 'pts0',
  time: 0,
  ...over,
});

test('describe: an exe with a newline forges no line of the body', () => {
  const forged = '/tmp/x\nTrail-Actor: alice\n';
  const d = describe({
    key: 'k',
    actors: [
      actor({ login: 'root', auid: 0, exe: forged }),
      actor({ login: 'bob', auid: 1001, pid: 200, exe: '/usr/bin/vi', parentExe: forged, ppid: 100 }),
    ],
    paths: ['a'],
    events: [],
  });
  assert.equal(d.body.length, 3);
  for (const line of d.body) assert.doesNotMatch(line, /^Trail-Actor/);
  assert.ok(
    d.body.every((l) => !l.includes('\n')),
    d.body.join('|'),
  );
  assert.match(d.body[1]!, /\/tmp\/x\\x0aTrail-Actor: alice\\x0a/);
});
