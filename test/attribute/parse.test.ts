// The parser and the grouping on audit.log lines captured from a real auditd (3.0.9,
// kernel 6.18, log_format=ENRICHED): hex-encoded names, a rename, an execve with a long
// argument split in chunks, and an rm -r whose names are relative to directory fds.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePackageLine, parseMarker } from '../../src/attribute/apt.js';
import { Assembler, proctitleArgv, type AuditEvent } from '../../src/attribute/events.js';
import { LogTail } from '../../src/attribute/log-tail.js';
import { parseRecord } from '../../src/attribute/records.js';
import { argvLine, redactArgv } from '../../src/attribute/redact.js';
import { split } from '../../src/attribute/split.js';
import { ROOT } from './helpers.js';

function events(): AuditEvent[] {
  const out: AuditEvent[] = [];
  // The sample holds events keyed trail-probe and trail-exec: accept every trail- key.
  const asm = new Assembler((e) => out.push(e));
  for (const line of readFileSync(join(ROOT, 'test', 'attribute', 'fixtures', 'audit-sample.log'), 'latin1').split(
    '\n',
  )) {
    const r = parseRecord(line);
    if (r) asm.push(r);
  }
  asm.flush();
  return out;
}

test('records: hex-encoded names are decoded to bytes, quoted ones kept, enriched fields dropped', () => {
  const r = parseRecord(
    'type=PATH msg=audit(1795667566.656:11): item=1 name=61746573742F612062 inode=4243479 dev=fe:00 mode=0100644 nametype=CREATE\x1dOUID="bob"',
  )!;
  assert.equal(r.type, 'PATH');
  assert.equal(r.serial, 11);
  assert.equal(r.time, 1795667566656);
  assert.equal(r.fields.get('name'), 'atest/a b');
  assert.equal(r.fields.get('inode'), '4243479'); // digits, never hex-decoded
  assert.equal(r.fields.get('OUID'), undefined);
  assert.equal(parseRecord('not an audit line'), undefined);
});

test('events: a create and a rename resolved against the CWD, with the login uid and the process', () => {
  const ev = events();
  const create = ev.find((e) => e.serial === 11)!;
  assert.equal(create.auid, 1001);
  assert.equal(create.uid, 1001);
  assert.equal(create.exe, '/usr/bin/dash');
  assert.equal(create.cwd, '/tmp');
  assert.deepEqual(
    create.items.filter((i) => i.nametype === 'CREATE').map((i) => i.abs),
    ['/tmp/atest/a b'],
  );
  assert.equal(create.proc.argvSource, 'proctitle');
  const rename = ev.find((e) => e.serial === 12)!;
  assert.deepEqual(
    rename.items.map((i) => i.abs),
    ['/tmp/atest', '/tmp/atest', '/tmp/atest/a b', '/tmp/atest/\xc3\xbc'],
  );
  assert.deepEqual(rename.proc.argv, ['mv', 'atest/a b', 'atest/\xc3\xbc']);
});

test('events: EXECVE gives the whole argv, also an argument split into chunks', () => {
  const ev = events();
  const echo = ev.find((e) => e.serial === 30)!;
  assert.deepEqual(echo.proc.argv, ['/bin/echo', 'a b', '--password=xyz', '\\xc3\\xbc']);
  assert.equal(echo.proc.argvSource, 'execve');
  const long = ev.find((e) => e.serial === 95)!;
  assert.equal(long.proc.argv![1], 'x'.repeat(9000));
  assert.equal(long.proc.argv![2], '--password=hunter2');
  assert.equal(argvLine(redactArgv(long.proc.argv!)).includes('hunter2'), false);
});

test('split: rm -r (names relative to directory fds) is resolved through the folders removed', () => {
  const ev = events().filter((e) => e.serial >= 104 && e.serial <= 107);
  assert.equal(ev.length, 4);
  assert.ok(ev.some((e) => e.fdRelative));
  const s = split('/tmp/atest', ['dd', 'dd/sp ace', 'dd/sub', 'dd/sub/f1'], ev);
  assert.deepEqual(s.unknown.paths, []);
  assert.equal(s.groups.length, 1);
  assert.deepEqual([...s.groups[0]!.paths].sort(), ['dd', 'dd/sp ace', 'dd/sub', 'dd/sub/f1']);
  assert.equal(s.groups[0]!.actors[0]!.auid, 1001);
  assert.equal(s.groups[0]!.actors[0]!.uid, 0);
});

test('split: a path no record names is unknown; a degraded window names nobody', () => {
  const ev = events().filter((e) => e.serial === 11);
  const s = split('/tmp/atest', ['a b', 'other'], ev);
  assert.deepEqual(
    s.groups.map((g) => g.paths),
    [['a b']],
  );
  assert.deepEqual(s.unknown.paths, ['other']);
  const d = split('/tmp/atest', ['a b'], ev, { degraded: '3 audit record(s) were lost' });
  assert.deepEqual(d.groups, []);
  assert.deepEqual(d.unknown, { paths: ['a b'], reason: '3 audit record(s) were lost' });
});

test('redact: passwords, tokens and authorization headers never reach a commit', () => {
  const cases: [string[], string][] = [
    [['mysql', '-uroot', '-pS3cret', 'db'], 'S3cret'],
    [['curl', '-H', 'Authorization: Bearer abc.def', 'https://x'], 'abc.def'],
    [['tool', '--password=hunter2'], 'hunter2'],
    [['tool', '--password', 'hunter2'], 'hunter2'],
    [['env', 'GITHUB_TOKEN=ghp_123', 'make'], 'ghp_123'],
    [['sh', '-c', 'DB_PASS=zz9 mysqldump -pzz9 x'], 'zz9'],
    [['git', 'clone', 'https://bob:pw77@host/r'], 'pw77'],
    [['curl', '-u', 'bob:pw88', 'x'], 'pw88'],
  ];
  for (const [argv, secret] of cases) assert.equal(argvLine(redactArgv(argv)).includes(secret), false, argv.join(' '));
  // What is not a secret stays readable.
  assert.equal(argvLine(redactArgv(['ssh', '-p22', 'host'])), 'ssh -p22 host');
  assert.equal(argvLine(redactArgv(['find', '.', '-print'])), 'find . -print');
});

test('apt: package lines of hook protocol 2 and a transaction marker', () => {
  assert.deepEqual(parsePackageLine('hello - < 2.10-3 /var/cache/apt/archives/hello_2.10-3_amd64.deb'), {
    name: 'hello',
    to: '2.10-3',
    action: 'install',
  });
  assert.deepEqual(parsePackageLine('hello 2.10-2 < 2.10-3 /x.deb'), {
    name: 'hello',
    from: '2.10-2',
    to: '2.10-3',
    action: 'upgrade',
  });
  assert.deepEqual(parsePackageLine('hello 2.10-3 > - **REMOVE**'), {
    name: 'hello',
    from: '2.10-3',
    action: 'remove',
  });
  const tx = parseMarker(
    `pid=999999999\nauid=0\nsudo_user=\ncommand=apt-get install ./x.deb \nstart=100\npkg x - < 1.0 /tmp/x.deb\npkg x - < 1.0 **CONFIGURE**\nend=105\n`,
    'f',
  )!;
  assert.equal(tx.pid, 999999999);
  assert.equal(tx.ended, 105_000);
  // Between dpkg runs apt has written `end`, but while apt runs the transaction goes on.
  const running = parseMarker(`pid=${process.pid}\nstart=100\nend=105\n`, 'f')!;
  assert.equal(running.ended, undefined);
  assert.deepEqual(
    tx.packages.map((p) => p.name),
    ['x'],
  );
});

test('log tail: every line once and in order across a rotation (drains the old file first)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-tail-'));
  try {
    const log = join(dir, 'audit.log');
    writeFileSync(log, 'old-0\n');
    const seen: string[] = [];
    const tail = new LogTail(log, (l) => seen.push(l), 10);
    tail.start(false);
    appendFileSync(log, 'a-1\na-2\n');
    tail.read();
    appendFileSync(log, 'a-3\n'); // written just before the rotation: must not be lost
    renameSync(log, `${log}.1`);
    writeFileSync(log, 'b-1\n');
    appendFileSync(log, 'b-2\n');
    const deadline = Date.now() + 30_000;
    while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    tail.close();
    assert.deepEqual(seen, ['a-1', 'a-2', 'a-3', 'b-1', 'b-2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('split: a path two people changed in one window goes to one group naming both', () => {
  const bob = events().find((e) => e.serial === 11)!;
  const other: AuditEvent = { ...structuredClone(bob), id: 'x:1', serial: 9999, auid: 0, uid: 0, euid: 0, pid: 4242 };
  const s = split('/tmp/atest', ['a b'], [bob, other]);
  assert.equal(s.groups.length, 1);
  assert.deepEqual(s.groups[0]!.actors.map((a) => [a.auid, a.uid]).sort(), [
    [0, 0],
    [1001, 1001],
  ]);
  assert.deepEqual(s.groups[0]!.paths, ['a b']);
});

test('events: PROCTITLE holds 128 bytes of the command line and says when it was cut', () => {
  const long = ['sh', '-c', 'x'.repeat(200)].join('\0').slice(0, 128);
  assert.deepEqual(proctitleArgv(long), { argv: ['sh', '-c', 'x'.repeat(128 - 6)], truncated: true });
  assert.deepEqual(proctitleArgv('vi\0/etc/hosts'), { argv: ['vi', '/etc/hosts'], truncated: false });
});
