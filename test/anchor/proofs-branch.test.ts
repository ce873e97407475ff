// The proofs branch as a witness reads it: plain git for the tree, the .ots bytes read by
// hand (the file digest after the header is the commit id), the signature checked by git
// verify-commit with an allowed_signers file made from the key's .pub. Stamping and upgrading
// against the local OpenTimestamps calendar, as the other anchoring tests do.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { upgrade } from '../../src/anchor/upgrade-proofs.js';
import { readProofs } from '../../src/anchor/shadow-git.js';
import { queueSummary } from '../../src/anchor/stamp-queue.js';
import { ensureHostKey } from '../../src/host/host-key.js';
import { ots } from '../../src/anchor/ots-package.js';
import { makeRepo, chain, anchorOpts, g, quietly } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';

const { cal, esplora } = anchorStubs();

/** The standard detached .ots header: magic, version 1, then the file hash op and digest. */
const MAGIC = Buffer.from('004f70656e54696d657374616d7073000050726f6f6600bf89e2e884e89294', 'hex');

function digestOf(ots: Buffer): string {
  assert.deepEqual(ots.subarray(0, MAGIC.length), MAGIC, 'an OpenTimestamps proof file');
  assert.equal(ots[MAGIC.length], 1, 'version 1');
  assert.equal(ots[MAGIC.length + 1], 0x02, 'file hash op SHA-1');
  return ots.subarray(MAGIC.length + 2, MAGIC.length + 22).toString('hex');
}

/** The path of every file on the proofs branch at `rev`. */
async function branchFiles(gitDir: string, rev = 'refs/heads/proofs'): Promise<Set<string>> {
  return new Set((await g(gitDir, ['ls-tree', '-r', '--name-only', rev])).split('\n').filter(Boolean));
}

/** Blob bytes exactly (g() trims and decodes text). */
async function blobBytes(gitDir: string, rev: string, path: string): Promise<Buffer> {
  const { run } = await import('../../src/util/exec.js');
  return (await run('git', [`--git-dir=${gitDir}`, 'cat-file', 'blob', `${rev}:${path}`])).stdout;
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

test('each stamped commit lands on the proofs branch as XX/rest.ots, signed; upgrades replace; deleted notes stay', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const home = join(repo.dir, 'home');
  await withHome(home, async () => {
    const key = await ensureHostKey(home, 'web1');
    assert.ok(key);
    const opts = anchorOpts([cal.url], esplora.url);
    const observed = await chain(repo, 'refs/heads/observed', 4);
    const checkpoints = await chain(repo, 'refs/heads/checkpoints', 2);
    const all = [...observed, ...checkpoints];
    assert.equal((await quietly(() => stampBatch(repo.gitDir, opts))).outcome, 'stamped');

    // Every commit has its file, named by its id, whose digest is the id, and whose bytes are
    // the note's: checkpoints are stamped like any branch.
    const notes = await readProofs(repo.gitDir);
    let files = await branchFiles(repo.gitDir);
    assert.deepEqual([...files].sort(), all.map((id) => `${id.slice(0, 2)}/${id.slice(2)}.ots`).sort());
    for (const id of all) {
      const bytes = await blobBytes(repo.gitDir, 'refs/heads/proofs', `${id.slice(0, 2)}/${id.slice(2)}.ots`);
      assert.equal(digestOf(bytes), id);
      assert.deepEqual(bytes, notes.get(id));
      // The package (the reference serialization) reads it as a proof of that digest too.
      const d = ots().DetachedTimestampFile.deserialize(Uint8Array.from(bytes));
      assert.equal(Buffer.from(d.fileDigest()).toString('hex'), id);
    }

    // Signed by the host key, checked by git with allowed_signers from the .pub file.
    const signers = join(repo.dir, 'allowed_signers');
    writeFileSync(signers, `web1 namespaces="git" ${readFileSync(join(home, 'keys', 'host_ed25519.pub'), 'utf8')}`);
    const tip1 = await g(repo.gitDir, ['rev-parse', 'refs/heads/proofs']);
    assert.match(
      await g(repo.gitDir, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'log', '-1', '--format=%G?', tip1]),
      /^G$/,
    );
    // The proofs branch itself is never stamped, and nothing is left in the scratch ref.
    const again = await quietly(() => stampBatch(repo.gitDir, opts));
    assert.equal(again.outcome, 'nothing-to-stamp');
    assert.equal((await queueSummary(repo.gitDir)).queued, 0);
    assert.equal(await g(repo.gitDir, ['for-each-ref', 'refs/trail-work/']), '');

    // A note deleted on the host: the branch keeps the proof, and later commits keep it too.
    const victim = observed[1]!;
    await g(repo.gitDir, ['notes', '--ref=refs/notes/trail-ots', 'remove', victim], undefined, {
      GIT_COMMITTER_NAME: 'root',
      GIT_COMMITTER_EMAIL: 'root@x',
    });
    assert.equal((await readProofs(repo.gitDir)).has(victim), false);
    const more = await chain(repo, 'refs/heads/observed', 1, observed[3]);
    await quietly(() => stampBatch(repo.gitDir, opts));
    files = await branchFiles(repo.gitDir);
    assert.ok(files.has(`${victim.slice(0, 2)}/${victim.slice(2)}.ots`), 'the deleted note is still on the branch');
    assert.ok(files.has(`${more[0]!.slice(0, 2)}/${more[0]!.slice(2)}.ots`));
    const tip2 = await g(repo.gitDir, ['rev-parse', 'refs/heads/proofs']);
    assert.equal(await g(repo.gitDir, ['rev-parse', `${tip2}^`]), tip1, 'append-only: each commit on the last');

    // Bitcoin confirms: the upgraded proofs replace the pending ones; history keeps both.
    esplora.addBlock(cal.mine(800_001, Math.floor(Date.now() / 1000)));
    const up = await quietly(() => upgrade(repo.gitDir, opts));
    assert.ok(up.upgraded.length >= all.length);
    const upgradedNotes = await readProofs(repo.gitDir);
    for (const id of up.upgraded) {
      const path = `${id.slice(0, 2)}/${id.slice(2)}.ots`;
      const now = await blobBytes(repo.gitDir, 'refs/heads/proofs', path);
      assert.deepEqual(now, upgradedNotes.get(id));
      assert.equal(digestOf(now), id);
      assert.ok(now.length > (await blobBytes(repo.gitDir, tip2, path)).length, 'the upgraded proof is longer');
    }
    // The deleted note's proof is not upgraded by trail (it has no note), but stays pending on the branch.
    assert.ok((await branchFiles(repo.gitDir)).has(`${victim.slice(0, 2)}/${victim.slice(2)}.ots`));
    assert.match(
      await g(repo.gitDir, ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'log', '--format=%G?', 'refs/heads/proofs']),
      /^(G\n)*G$/,
      'every commit of the branch is signed',
    );
    assert.equal((await g(repo.gitDir, ['fsck', '--strict', '--no-dangling'])).includes('error'), false);
  });
});

test('a trail stamped before the branch existed publishes its older proofs with the first commit', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  await withHome(join(repo.dir, 'home'), async () => {
    const opts = anchorOpts([cal.url], esplora.url);
    const first = await chain(repo, 'refs/heads/observed', 3);
    await quietly(() => stampBatch(repo.gitDir, opts));
    // As if written by a trail without the branch: only the notes remain; a killed run left
    // a scratch ref behind.
    await g(repo.gitDir, ['update-ref', 'refs/trail-work/proofs', first[0]!]);
    await g(repo.gitDir, ['update-ref', '-d', 'refs/heads/proofs']);
    const next = await chain(repo, 'refs/heads/observed', 1, first[2]);
    await quietly(() => stampBatch(repo.gitDir, opts));
    const files = await branchFiles(repo.gitDir);
    assert.deepEqual([...files].sort(), [...first, ...next].map((id) => `${id.slice(0, 2)}/${id.slice(2)}.ots`).sort());
    assert.equal(await g(repo.gitDir, ['rev-list', '--count', 'refs/heads/proofs']), '1');
    assert.equal(await g(repo.gitDir, ['for-each-ref', 'refs/trail-work/']), '');
  });
});
