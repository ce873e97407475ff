// The in-process SSHSIG checker against real git and ssh-keygen: commits signed by
// `git commit-tree -S` (gpg.format=ssh) verify, altered ones and foreign keys do not; and the
// in-process signer the benchmark uses makes signatures `git verify-commit` accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/cli.js';
import { FleetHost } from '../support/fleet.js';
import {
  checkCommitSignature,
  parseCommit,
  parsePublicKey,
  signSshSig,
  sshPublicKeyLine,
} from '../../src/witness/signature-checker.js';

test('in-process SSHSIG verification agrees with git verify-commit; the in-process signer too', (t) => {
  const tmp = tempDir('trail-sig-');
  t.after(tmp.cleanup);
  const h = new FleetHost(tmp.path, 'web1', 'etc');
  const other = new FleetHost(tmp.path, 'web2', 'etc');
  const pinned = parsePublicKey(h.publicKey).blob;
  const signers = join(tmp.path, 'allowed');
  writeFileSync(signers, `web1 ${h.publicKey}\n`);
  const gitVerify = (id: string) =>
    spawnSync('git', [`--git-dir=${h.gitDir}`, '-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', id])
      .status === 0;
  const raw = (id: string) => Buffer.from(h.git(['cat-file', 'commit', id]) + '\n');

  const good = h.checkpoint('start');
  const foreign = h.checkpoint('heartbeat', { keyFile: other.keyFile });
  const altered = h.git(['hash-object', '-t', 'commit', '-w', '--stdin'], {
    input: h.git(['cat-file', 'commit', good]).replace('"seq":1', '"seq":9') + '\n',
  });
  for (const [id, ok] of [
    [good, true],
    [foreign, false],
    [altered, false],
  ] as const) {
    assert.equal(gitVerify(id), ok, `git on ${id}`);
    assert.equal(checkCommitSignature(parseCommit(id, raw(id)), pinned).ok, ok, `trail on ${id}`);
  }

  // The benchmark's signer: a key made by node, a commit object written by hand.
  const kp = generateKeyPairSync('ed25519');
  const pub = Buffer.from(kp.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  writeFileSync(signers, `web1 ${sshPublicKeyLine(pub, 'bench')}\n`);
  const tree = h.git(['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' });
  const head = `tree ${tree}\nauthor a <a@x> 1700000000 +0000\ncommitter trail <trail@localhost> 1700000000 +0000\n`;
  const msg = 'signed in process\n';
  const sig = signSshSig(Buffer.from(`${head}\n${msg}`), kp.privateKey, pub);
  const body = `${head}gpgsig ${sig.split('\n').join('\n ')}\n\n${msg}`;
  const id = h.git(['hash-object', '-t', 'commit', '-w', '--stdin'], { input: body });
  assert.equal(gitVerify(id), true, 'git accepts the in-process signature');
  assert.equal(
    checkCommitSignature(parseCommit(id, Buffer.from(body)), parsePublicKey(sshPublicKeyLine(pub, 'x')).blob).ok,
    true,
  );
});
