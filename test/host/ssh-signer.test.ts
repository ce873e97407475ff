// trail's in-process SSH signatures against the real tools: ssh-keygen makes the key and
// checks the signatures, git checks the signed commits. No trail code decides a verdict here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fingerprint,
  parseOpenSshPrivateKey,
  publicKeyLine,
  signCommitObject,
  splitSignedCommit,
  sshSign,
  sshVerify,
} from '../../src/host/ssh-signer.js';
import { allowedSignersLine, commitSigner, ensureHostKey, hostKeyFile, loadHostKey } from '../../src/host/host-key.js';
import { hashObject, EMPTY_TREE } from '../../src/record/store/object-format.js';
import { LooseWriter } from '../../src/record/store/loose-writer.js';
import { writeCommit } from '../../src/record/commit/commit.js';
import { tempDir } from '../support/cli.js';

function sh(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, env: { ...process.env, ...opts.env } });
  return { code: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** git with no host config and a fixed identity, as an auditor would run it. */
function git(gitDir: string, args: string[], input?: string | Buffer, env: NodeJS.ProcessEnv = {}) {
  return sh('git', ['--git-dir', gitDir, ...args], {
    input,
    env: {
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@x',
      GIT_COMMITTER_NAME: 'c',
      GIT_COMMITTER_EMAIL: 'c@x',
      ...env,
    },
  });
}

function makeKey(dir: string, comment = 'trail@test'): string {
  const file = join(dir, 'k');
  const r = sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  return file;
}

test('the key file parses; public line and fingerprint are what ssh-keygen says', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const file = makeKey(tmp.path, 'trail@web1');
  const key = parseOpenSshPrivateKey(readFileSync(file, 'utf8'));
  assert.equal(publicKeyLine(key), readFileSync(`${file}.pub`, 'utf8').trim());
  const lf = sh('ssh-keygen', ['-lf', `${file}.pub`]).stdout.split(' ');
  assert.equal(fingerprint(key), lf[1]);
  assert.equal(key.comment, 'trail@web1');
});

test('a signature is byte for byte the one ssh-keygen -Y sign makes, and ssh-keygen -Y verify accepts it', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const file = makeKey(tmp.path);
  const key = parseOpenSshPrivateKey(readFileSync(file, 'utf8'));
  for (const message of ['', 'hello\n', 'x'.repeat(10_000), 'tree 4b82\n\ncaf\xe9 \u{1f600}\n']) {
    const data = join(tmp.path, 'msg');
    writeFileSync(data, message);
    const r = sh('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', file, data]);
    assert.equal(r.code, 0, r.stderr);
    const theirs = readFileSync(`${data}.sig`, 'utf8');
    const ours = sshSign(key, Buffer.from(message));
    assert.equal(ours, theirs);
    sh('rm', ['-f', `${data}.sig`]);

    const signers = join(tmp.path, 'allowed');
    writeFileSync(signers, allowedSignersLine(key, 'web1') + '\n');
    const sig = join(tmp.path, 'ours.sig');
    writeFileSync(sig, ours);
    const ok = sh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'web1', '-n', 'git', '-s', sig], {
      input: message,
    });
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    // Another namespace, another principal, or a changed message: refused.
    const otherNs = sh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'web1', '-n', 'file', '-s', sig], {
      input: message,
    });
    assert.notEqual(otherNs.code, 0);
    const otherHost = sh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'web2', '-n', 'git', '-s', sig], {
      input: message,
    });
    assert.notEqual(otherHost.code, 0);
    const changed = sh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'web1', '-n', 'git', '-s', sig], {
      input: message + 'x',
    });
    assert.notEqual(changed.code, 0);
    assert.equal(sshVerify(ours, Buffer.from(message), key.publicBlob), true);
    assert.equal(sshVerify(ours, Buffer.from(message + 'x'), key.publicBlob), false);
  }
});

test('a commit signed by trail is the one git commit-tree -S makes; git verify-commit accepts it, one changed byte fails', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const file = makeKey(tmp.path);
  const key = parseOpenSshPrivateKey(readFileSync(file, 'utf8'));
  const repo = join(tmp.path, 'r.git');
  sh('git', ['init', '--bare', '-q', repo]);
  const signers = join(tmp.path, 'allowed');
  writeFileSync(signers, allowedSignersLine(key, 'web1') + '\n');
  const dates = { GIT_AUTHOR_DATE: '1700000000 +0100', GIT_COMMITTER_DATE: '1700000000 +0100' };

  // git's own signed commit, through ssh-keygen.
  const gitSigned = git(
    repo,
    [
      '-c',
      'gpg.format=ssh',
      '-c',
      `user.signingkey=${file}`,
      'commit-tree',
      '-S',
      EMPTY_TREE,
      '-m',
      'checkpoint 1',
      '-m',
      '{"v":1}',
    ],
    undefined,
    dates,
  );
  assert.equal(gitSigned.code, 0, gitSigned.stderr);
  const gitId = gitSigned.stdout.trim();

  // The same commit unsigned, then signed by trail.
  const plain = git(repo, ['commit-tree', EMPTY_TREE, '-m', 'checkpoint 1', '-m', '{"v":1}'], undefined, dates);
  const payload = Buffer.from(git(repo, ['cat-file', 'commit', plain.stdout.trim()]).stdout);
  const signed = signCommitObject(payload, sshSign(key, payload));
  assert.equal(hashObject('commit', signed), gitId, 'identical to git commit -S');
  assert.deepEqual(splitSignedCommit(signed)?.payload, payload);

  const verify = (id: string) => git(repo, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', id]);
  const ok = verify(gitId);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /Good "git" signature for web1 with ED25519 key SHA256:/);

  // One byte of the message changed (and the object re-hashed): the signature no longer holds.
  const tampered = Buffer.from(signed);
  tampered[tampered.lastIndexOf('1')] = '2'.charCodeAt(0);
  const badId = git(repo, ['hash-object', '-t', 'commit', '-w', '--stdin'], tampered).stdout.trim();
  assert.notEqual(badId, gitId);
  assert.notEqual(verify(badId).code, 0);

  // Signed by another key: refused by the allowed_signers of this host.
  sh('mkdir', [join(tmp.path, 'o')]);
  const other = parseOpenSshPrivateKey(readFileSync(makeKey(join(tmp.path, 'o')), 'utf8'));
  const forged = signCommitObject(payload, sshSign(other, payload));
  const forgedId = git(repo, ['hash-object', '-t', 'commit', '-w', '--stdin'], forged).stdout.trim();
  assert.notEqual(verify(forgedId).code, 0);
});

test('ensureHostKey makes one 0600 key in a 0700 folder, even when two ask at once; writeCommit then signs', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  assert.equal(await loadHostKey(home), undefined);
  const [a, b] = await Promise.all([ensureHostKey(home, 'web1'), ensureHostKey(home, 'web1')]);
  assert.ok(a && b);
  assert.deepEqual(a.publicBlob, b.publicBlob);
  assert.equal(statSync(join(home, 'keys')).mode & 0o777, 0o700);
  assert.equal(statSync(hostKeyFile(home)).mode & 0o777, 0o600);
  assert.match(readFileSync(`${hostKeyFile(home)}.pub`, 'utf8'), /^ssh-ed25519 \S+ trail@web1\n$/);
  assert.equal(
    allowedSignersLine(a, 'web1'),
    `web1 namespaces="git" ${readFileSync(`${hostKeyFile(home)}.pub`, 'utf8').trim()}`,
  );
  // Nothing else is left in the keys folder (the temp folder of the loser is gone).
  assert.deepEqual(
    sh('ls', ['-A', join(home, 'keys')])
      .stdout.split('\n')
      .filter(Boolean)
      .sort(),
    ['host_ed25519', 'host_ed25519.pub'],
  );

  // writeCommit signs with the host key of TRAIL_HOME; git verifies it.
  const repo = join(tmp.path, 'r.git');
  sh('git', ['init', '--bare', '-q', repo]);
  const saved = process.env.TRAIL_HOME;
  process.env.TRAIL_HOME = home;
  t.after(() => (saved === undefined ? delete process.env.TRAIL_HOME : (process.env.TRAIL_HOME = saved)));
  assert.ok(await commitSigner());
  const w = new LooseWriter(repo);
  await w.write('tree', Buffer.alloc(0));
  const signed = await writeCommit(w, { tree: EMPTY_TREE, parents: [], author: { name: 'alice' }, message: 'x\n' });
  const unsigned = await writeCommit(w, {
    tree: EMPTY_TREE,
    parents: [],
    author: { name: 'alice' },
    message: 'y\n',
    sign: false,
  });
  await w.finish();
  const signers = join(tmp.path, 'allowed');
  writeFileSync(signers, allowedSignersLine(a, 'web1') + '\n');
  const v = (id: string) => git(repo, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', id]);
  assert.equal(v(signed).code, 0, v(signed).stderr);
  assert.notEqual(v(unsigned).code, 0);
  assert.equal(git(repo, ['fsck', '--strict']).code, 0);
});

test('without ssh-keygen no key is made: one warning, and commits stay unsigned', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const path = process.env.PATH;
  const write = process.stderr.write;
  const said: string[] = [];
  process.env.PATH = join(tmp.path, 'empty-bin');
  process.stderr.write = ((s: string) => (said.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await ensureHostKey(home, 'web1'), undefined);
    assert.equal(await ensureHostKey(home, 'web1'), undefined);
  } finally {
    process.env.PATH = path;
    process.stderr.write = write;
  }
  assert.equal(said.length, 1, said.join(''));
  assert.match(said[0]!, /ssh-keygen is not installed.*unsigned/);
  assert.equal(await commitSigner(home), undefined);
});

test('keys that are not usable are refused with a message that does not quote them', (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const file = join(tmp.path, 'p');
  assert.equal(sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret-pass', '-f', file]).code, 0);
  assert.throws(() => parseOpenSshPrivateKey(readFileSync(file, 'utf8')), /passphrase/);
  const rsa = join(tmp.path, 'r');
  assert.equal(sh('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', rsa]).code, 0);
  assert.throws(() => parseOpenSshPrivateKey(readFileSync(rsa, 'utf8')), /key type ssh-rsa/);
  assert.throws(() => parseOpenSshPrivateKey('garbage'), /not an OpenSSH private key/);
  sh('mkdir', [join(tmp.path, 'e')]);
  const ed = readFileSync(makeKey(join(tmp.path, 'e')), 'utf8');
  const cut = ed.replace(/-----END/, '').slice(0, ed.length / 2) + '\n-----END OPENSSH PRIVATE KEY-----\n';
  assert.throws(
    () => parseOpenSshPrivateKey(cut),
    (err: Error) => /unusable|not an/.test(err.message) && !err.message.includes('AAAA'),
  );
});
