// Checkpoints as a witness off the host sees them: read with plain git, signatures checked
// with git verify-commit and ssh-keygen -Y verify against an allowed_signers file made from
// the key's .pub file — no trail code decides whether a signature holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../../../src/record/repo/repo.js';
import { nextSeq, readCheckpoint, seqFile, writeCheckpoint } from '../../../src/record/checkpoint/checkpoint-writer.js';
import {
  parseCheckpointMessage,
  checkpointMessage,
  CheckpointFormatError,
} from '../../../src/record/checkpoint/checkpoint-format.js';
import { git, tempDir, trail } from '../../support/cli.js';

/** allowed_signers from the .pub file, as an auditor writes it by hand. */
function allowedSigners(home: string, dir: string, principal = 'web1'): string {
  const pub = readFileSync(join(home, 'keys', 'host_ed25519.pub'), 'utf8').trim();
  const file = join(dir, 'allowed_signers');
  writeFileSync(file, `${principal} namespaces="git" ${pub}\n`);
  return file;
}

function verifyCommit(repo: string, signers: string, id: string) {
  return git(repo, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', id]);
}

/** The signed payload and the signature of a commit, cut apart by hand (the gpgsig header
 * and its space-prefixed continuation lines), then checked with ssh-keygen -Y verify. */
function sshKeygenVerify(raw: Buffer, signers: string, dir: string, principal = 'web1'): number {
  const text = raw.toString('utf8');
  const eoh = text.indexOf('\n\n');
  const head = text.slice(0, eoh + 1).split('\n');
  const at = head.findIndex((l) => l.startsWith('gpgsig '));
  assert.ok(at >= 0, 'the commit has a gpgsig header');
  let end = at + 1;
  while (head[end]?.startsWith(' ')) end++;
  const sig = [head[at]!.slice('gpgsig '.length), ...head.slice(at + 1, end).map((l) => l.slice(1))].join('\n') + '\n';
  const payload = [...head.slice(0, at), ...head.slice(end)].join('\n') + text.slice(eoh + 1);
  writeFileSync(join(dir, 'sig'), sig);
  const r = spawnSync(
    'ssh-keygen',
    ['-Y', 'verify', '-f', signers, '-I', principal, '-n', 'git', '-s', join(dir, 'sig')],
    {
      input: payload,
    },
  );
  return r.status ?? -1;
}

async function withHome<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.TRAIL_HOME;
  process.env.TRAIL_HOME = home;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TRAIL_HOME;
    else process.env.TRAIL_HOME = saved;
  }
}

async function makeRepo(root: string, name = 'etc'): Promise<Repo> {
  mkdirSync(join(root, name), { recursive: true });
  return Repo.create(join(root, `${name}.git`), { name, dir: join(root, name) });
}

test('nextSeq: never back, never a number that was seen; a reserved but unwritten one is used', () => {
  assert.equal(nextSeq(undefined, undefined), 1);
  assert.equal(nextSeq(5, 5), 6);
  assert.equal(nextSeq(6, 5), 6); // reserved, killed before the ref moved: never seen
  assert.equal(nextSeq(9, 5), 10); // branch set back (or another repo): the file wins
  assert.equal(nextSeq(undefined, 7), 8); // seq file lost: the branch wins
  assert.equal(nextSeq(3, undefined), 4); // re-init: the file wins
});

test('the sequence grows by one over writes, a restart and a kill between reserving and writing', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  await withHome(home, async () => {
    let repo = await makeRepo(tmp.path);
    const seqs: number[] = [];
    for (const reason of ['start', 'heartbeat', 'heartbeat', 'stop'] as const)
      seqs.push((await writeCheckpoint(repo, { reason })).record.seq);
    repo.close();
    // A restart: a new process opens the repository again.
    repo = await Repo.open(join(tmp.path, 'etc.git'));
    seqs.push((await writeCheckpoint(repo, { reason: 'start' })).record.seq);
    // Killed after reserving 6 and before the ref moved: the next one is 6, no gap.
    writeFileSync(seqFile('etc', home), '6\n');
    seqs.push((await writeCheckpoint(repo, { reason: 'heartbeat' })).record.seq);
    // The seq file lost: the branch still says where it was.
    rmSync(seqFile('etc', home));
    seqs.push((await writeCheckpoint(repo, { reason: 'heartbeat' })).record.seq);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(readFileSync(seqFile('etc', home), 'utf8'), '7\n');
    repo.close();
  });
  // Plain git: a chain of commits on the empty tree, each message a v1 record whose
  // previous.seq is its parent's seq.
  const repoDir = join(tmp.path, 'etc.git');
  const log = git(repoDir, ['log', '--format=%H %T %P', 'checkpoints']).stdout.toString().trim().split('\n');
  assert.equal(log.length, 7);
  let later: number | undefined;
  for (const line of log) {
    const [, tree] = line.split(' ');
    assert.equal(tree, '4b825dc642cb6eb9a060e54bf8d69288fbee4904');
    const msg = git(repoDir, ['log', '-1', '--format=%B', line.split(' ')[0]!]).stdout.toString();
    const json = JSON.parse(msg.split('\n')[2]!);
    if (later !== undefined) assert.equal(json.seq, later - 1);
    later = json.seq;
  }
  assert.equal(git(repoDir, ['fsck', '--strict', '--no-dangling']).code, 0);
});

test('checkpoints verify with git verify-commit and ssh-keygen -Y verify; a tampered one does not', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const c = await withHome(home, async () => {
    const repo = await makeRepo(tmp.path);
    await writeCheckpoint(repo, { reason: 'start' });
    const r = await writeCheckpoint(repo, { reason: 'heartbeat', audit: { enabled: 1, lost: 0, backlog: 0 } });
    repo.close();
    return r;
  });
  const repoDir = join(tmp.path, 'etc.git');
  const signers = allowedSigners(home, tmp.path);
  const ok = verifyCommit(repoDir, signers, c.commit);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /Good "git" signature for web1/);
  const raw = git(repoDir, ['cat-file', 'commit', c.commit]).stdout;
  assert.equal(sshKeygenVerify(raw, signers, tmp.path), 0);

  // The message edited (a lost count made to look clean… here: seq 2 → 9), the object re-hashed
  // and stored: git takes the object, the signature does not hold.
  const edited = Buffer.from(
    raw.toString('utf8').replace('"seq":2', '"seq":9').replace('checkpoint 2:', 'checkpoint 9:'),
  );
  assert.notDeepEqual(edited, raw);
  const forged = git(repoDir, ['hash-object', '-t', 'commit', '-w', '--stdin'], edited).stdout.toString().trim();
  assert.notEqual(verifyCommit(repoDir, signers, forged).code, 0);
  assert.notEqual(sshKeygenVerify(edited, signers, tmp.path), 0);
  // Trail's own parser still reads it: only the signature tells it apart.
  assert.equal(parseCheckpointMessage(edited.toString('utf8').slice(edited.indexOf('\n\n') + 2)).seq, 9);

  // Another host's key (another TRAIL_HOME) is not this host's signer.
  const other = join(tmp.path, 'other');
  await withHome(other, async () => {
    const repo = await makeRepo(join(tmp.path, 'o'));
    const r = await writeCheckpoint(repo, { reason: 'start' });
    repo.close();
    assert.notEqual(verifyCommit(join(tmp.path, 'o', 'etc.git'), signers, r.commit).code, 0);
  });
});

test('a start after a checkpoint that is not a stop is start-after-crash and names the window', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  await withHome(join(tmp.path, 'home'), async () => {
    const repo = await makeRepo(tmp.path);
    const t0 = new Date('2026-12-05T06:00:00.000Z');
    const t1 = new Date('2026-12-05T06:05:00.000Z');
    const t2 = new Date('2026-12-05T07:30:00.000Z');
    const first = await writeCheckpoint(repo, {
      reason: 'start',
      now: t0,
      daemonStart: t0,
      interval: 300,
      boot: 'boot-a',
      audit: { enabled: 1, lost: 10, backlog: 0, lastSerial: 100 },
    });
    assert.equal(first.record.reason, 'start');
    assert.equal(first.record.previous, null);
    assert.equal(first.record.window, null);
    await writeCheckpoint(repo, {
      reason: 'heartbeat',
      now: t1,
      daemonStart: t0,
      interval: 300,
      boot: 'boot-a',
      audit: { enabled: 1, lost: 12, backlog: 0, lastSerial: 150 },
    });
    // kill -9: no stop. Started again on the same boot, the lost counter up by 5.
    const crash = await writeCheckpoint(repo, {
      reason: 'start',
      now: t2,
      daemonStart: t2,
      interval: 300,
      boot: 'boot-a',
      audit: { enabled: 1, lost: 17, backlog: 3, lastSerial: null },
    });
    assert.equal(crash.record.reason, 'start-after-crash');
    assert.deepEqual(crash.record.previous, {
      seq: 2,
      time: t1.toISOString(),
      boot: 'boot-a',
      reason: 'heartbeat',
    });
    assert.deepEqual(crash.record.window, {
      from: t1.toISOString(),
      to: t2.toISOString(),
      bootChanged: false,
      auditLostDelta: 5,
    });
    // Rebooted meanwhile: the counter started again, the delta is the count since boot.
    const t3 = new Date('2026-12-05T09:00:00.000Z');
    const reboot = await writeCheckpoint(repo, { reason: 'start', now: t3, boot: 'boot-b', audit: { lost: 2 } });
    assert.deepEqual(reboot.record.window, {
      from: t2.toISOString(),
      to: t3.toISOString(),
      bootChanged: true,
      auditLostDelta: 2,
    });
    // Unknown counts stay unknown.
    const t4 = new Date('2026-12-05T09:10:00.000Z');
    const unknown = await writeCheckpoint(repo, { reason: 'start', now: t4, boot: null });
    assert.deepEqual(unknown.record.window, {
      from: t3.toISOString(),
      to: t4.toISOString(),
      bootChanged: null,
      auditLostDelta: null,
    });
    // After a clean stop, a start is a start.
    await writeCheckpoint(repo, { reason: 'stop', boot: 'boot-b' });
    const clean = await writeCheckpoint(repo, { reason: 'start', boot: 'boot-b' });
    assert.equal(clean.record.reason, 'start');
    assert.equal(clean.record.window, null);
    // What is on the branch is what was returned.
    assert.deepEqual((await readCheckpoint(repo, crash.commit))!.record, crash.record);
    repo.close();
  });
});

test('trail checkpoint: heads of the published branches, signed, and the sequence survives forget + re-init', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  assert.equal((await trail(home, ['init', dir, '--name', 'etc'])).code, 0);
  const a = await trail(home, ['checkpoint', '--reason', 'start', '--json']);
  assert.equal(a.code, 0, a.stderr);
  const b = await trail(home, ['checkpoint', 'etc', '--interval', '300', '--json']);
  assert.equal(b.code, 0, b.stderr);
  const repoDir = join(home, 'etc.git');
  const observed = git(repoDir, ['rev-parse', 'observed']).stdout.toString().trim();
  assert.equal(b.json.record.seq, 2);
  assert.equal(b.json.record.interval, 300);
  assert.equal(b.json.record.heads.observed, observed);
  assert.equal(b.json.record.heads.approved, observed);
  assert.equal(b.json.record.heads.logs, null);
  assert.equal(b.json.record.previous.seq, 1);
  // The observed commit trail init made is signed by the same key.
  const signers = allowedSigners(home, tmp.path);
  assert.equal(verifyCommit(repoDir, signers, observed).code, 0);
  assert.equal(verifyCommit(repoDir, signers, b.json.commit).code, 0);
  // The record in the commit is byte for byte the documented form.
  const msg = git(repoDir, ['cat-file', 'commit', b.json.commit]).stdout.toString();
  assert.ok(msg.endsWith(checkpointMessage(b.json.record)), msg);

  // remote show and doctor print the key as the auditor needs it, matching ssh-keygen's view.
  assert.equal((await trail(home, ['config', 'set', 'review.host', 'web1'])).code, 0);
  const pub = readFileSync(join(home, 'keys', 'host_ed25519.pub'), 'utf8')
    .trim()
    .split(' ');
  const shown = await trail(home, ['remote', 'show', '--json']);
  assert.equal(shown.json.signingKey.allowedSigners, `web1 namespaces="git" ${pub[0]} ${pub[1]} trail@web1`);
  const lf = spawnSync('ssh-keygen', ['-lf', join(home, 'keys', 'host_ed25519.pub')], { encoding: 'utf8' });
  assert.equal(shown.json.signingKey.fingerprint, lf.stdout.split(' ')[1]);
  const doctor = await trail(home, ['doctor', '--json']);
  assert.equal(doctor.json.signingKey.fingerprint, lf.stdout.split(' ')[1]);
  assert.equal((await trail(home, ['checkpoint', '--json'])).json.record.host, 'web1');

  // Forget the trail, delete its repository, initialize again: the numbers go on.
  assert.equal((await trail(home, ['forget', 'etc', '--delete-repo'])).code, 0);
  assert.equal((await trail(home, ['init', dir, '--name', 'etc'])).code, 0);
  const c = await trail(home, ['checkpoint', '--json']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.json.record.seq, 4);
  assert.equal(c.json.record.previous, null);
  assert.equal(verifyCommit(repoDir, signers, c.json.commit).code, 0, 'the same host key after re-init');

  const bad = await trail(home, ['checkpoint', '--reason', 'nap']);
  assert.equal(bad.code, 2);
});

test('the parser refuses what is not a v1 checkpoint', () => {
  const good = checkpointMessage({
    v: 1,
    host: 'web1',
    name: 'etc',
    seq: 2,
    reason: 'heartbeat',
    time: '2026-12-05T07:00:00.000Z',
    boot: 'b',
    daemonStart: null,
    interval: 300,
    heads: { observed: 'a'.repeat(40), approved: null, logs: null, access: null, proofs: null },
    audit: {
      enabled: 2,
      lost: 0,
      backlog: 0,
      lastSerial: null,
      configChanges: 2,
      configChangedBy: ['alice'],
      loginRewrites: 1,
      auditdRestarts: 0,
    },
    previous: { seq: 1, time: '2026-12-05T06:55:00.000Z', boot: 'b', reason: 'start' },
    window: null,
  });
  assert.equal(parseCheckpointMessage(good).seq, 2);
  assert.deepEqual(
    [parseCheckpointMessage(good).audit.configChanges, parseCheckpointMessage(good).audit.configChangedBy],
    [2, ['alice']],
  );
  assert.deepEqual(
    [parseCheckpointMessage(good).audit.loginRewrites, parseCheckpointMessage(good).audit.auditdRestarts],
    [1, 0],
  );
  // A checkpoint written before these fields were added says nothing of them: null.
  const older = good.replace(',"configChanges":2,"configChangedBy":["alice"],"loginRewrites":1,"auditdRestarts":0', '');
  assert.notEqual(older, good);
  const o = parseCheckpointMessage(older).audit;
  assert.deepEqual([o.configChanges, o.configChangedBy, o.loginRewrites, o.auditdRestarts], [null, null, null, null]);
  const bad = [
    good.replace('"v":1', '"v":2'),
    good.replace('"seq":2', '"seq":-2'),
    good.replace('"seq":1', '"seq":5'),
    good.replace('"reason":"heartbeat"', '"reason":"nap"'),
    good.replace('"observed":"aaaa', '"observed":"zzzz'),
    good.replace('"window":null', '"window":{"from":"x"}'),
    good + 'trailing text\n',
    good.replace('\n\n', '\n'),
    good.replace('checkpoint 2:', 'checkpoint 3:'),
    good.replace('"host":"web1"', '"host":"web/1"'),
    good.replace('"configChanges":2', '"configChanges":-1'),
    good.replace('["alice"]', '"alice"'),
    good.replace('["alice"]', '[7]'),
  ];
  for (const m of bad) assert.throws(() => parseCheckpointMessage(m), CheckpointFormatError, m);
});
