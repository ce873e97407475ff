// Tampering on purpose, and each failure reported precisely: the kind of finding and the
// commit it names.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { upgrade } from '../../src/anchor/upgrade-proofs.js';
import { verify, VERIFY_EXIT, type VerifyResult } from '../../src/anchor/verify-trail.js';
import { readProofs } from '../../src/anchor/shadow-git.js';
import { makeRepo, chain, anchorOpts, g, type Repo } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';

const { cal, esplora } = anchorStubs();
let height = 900_000;
const opts = () => anchorOpts([cal.url], esplora.url);

/** Stamp whatever is new, confirm it in a block at `blockTime`, upgrade. */
async function anchorAll(repo: Repo, blockTime = Math.floor(Date.now() / 1000)): Promise<void> {
  await stampBatch(repo.gitDir, { ...opts(), force: true });
  esplora.addBlock(cal.mine(++height, blockTime));
  await upgrade(repo.gitDir, opts());
}

async function anchoredTrail(t: { after(fn: () => Promise<void>): void }): Promise<{ repo: Repo; ids: string[] }> {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const ids = await chain(repo, 'refs/heads/observed', 5);
  await anchorAll(repo);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'verified', JSON.stringify(v.findings));
  return { repo, ids };
}

function kinds(v: VerifyResult, severity: 'fail' | 'warn' = 'fail'): [string, string | undefined][] {
  return v.findings
    .filter((f) => f.severity === severity)
    .map((f) => [f.kind, f.commit] as [string, string | undefined])
    .sort();
}

async function setNote(repo: Repo, commit: string, bytes: Buffer): Promise<void> {
  const tmp = join(repo.dir, 'note.bin');
  await writeFile(tmp, bytes);
  const blob = await g(repo.gitDir, ['hash-object', '-w', tmp]);
  await g(repo.gitDir, ['notes', '--ref=trail-ots', 'add', '-f', '-C', blob, commit]);
}

test('rewrite an old commit and re-stamp the rewritten history: the old proofs betray it, the new ones are late', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  const times = (await g(repo.gitDir, ['log', '--format=%ct', '--reverse', 'refs/heads/observed']))
    .split('\n')
    .map(Number);
  // Same dates, one altered file in commit 1, descendants rebuilt on top of it.
  let p = ids[0]!;
  const forged: string[] = [];
  for (let i = 1; i < 5; i++) {
    p = await repo.commit(
      `change ${i}`,
      { hosts: i === 1 ? '10.6.6.6 evil\n' : `127.0.0.1 host${i}\n` },
      [p],
      times[i],
    );
    forged.push(p);
  }
  await repo.setRef('refs/heads/observed', p);
  await anchorAll(repo, Math.floor(Date.now() / 1000) + 3 * 86400);

  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'failed');
  assert.equal(VERIFY_EXIT[v.status], 11);
  assert.deepEqual(
    kinds(v),
    ids
      .slice(1)
      .map((id) => ['proof-without-ref', id])
      .sort(),
  );
  assert.deepEqual(kinds(v, 'warn'), forged.map((id) => ['late-proof', id]).sort());
});

test('drop a commit from the middle', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  const c3 = await repo.commit('change 3', { hosts: '127.0.0.1 host3\n' }, [ids[1]!]);
  const c4 = await repo.commit('change 4', { hosts: '127.0.0.1 host4\n' }, [c3]);
  await repo.setRef('refs/heads/observed', c4);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'failed');
  assert.deepEqual(kinds(v), [ids[2], ids[3], ids[4]].map((id) => ['proof-without-ref', id]).sort());
});

test('reset a ref back, keeping the proofs: the vanished commits are named', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  await repo.setRef('refs/heads/observed', ids[2]!);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.deepEqual(kinds(v), [ids[3], ids[4]].map((id) => ['proof-without-ref', id]).sort());
});

test('delete a proof: reported, and not silently re-stamped', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  await g(repo.gitDir, ['notes', '--ref=trail-ots', 'remove', ids[2]!]);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.deepEqual(kinds(v), [['missing-proof', ids[2]]]);
  const r = await stampBatch(repo.gitDir, { ...opts(), force: true });
  assert.equal(r.outcome, 'nothing-to-stamp');
  assert.deepEqual(kinds(await verify(repo.gitDir, undefined, opts())), [['missing-proof', ids[2]]]);
});

test('alter a proof byte: in the merkle path it no longer reaches the block; in the header it does not parse', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  const proofs = await readProofs(repo.gitDir);
  const a = Buffer.from(proofs.get(ids[1]!)!);
  // header (31) + version (1) + sha1 op (1) + commit id (20); then append(16-byte nonce)
  assert.equal(a[53], 0xf0);
  assert.equal(a[54], 16);
  a[60]! ^= 0x01;
  await setNote(repo, ids[1]!, a);
  const b = Buffer.from(proofs.get(ids[3]!)!);
  b[5]! ^= 0xff;
  await setNote(repo, ids[3]!, b);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'failed');
  assert.deepEqual(
    kinds(v),
    [
      ['block-mismatch', ids[1]],
      ['unreadable-proof', ids[3]],
    ].sort(),
  );
});

test('swap two proofs', async (t) => {
  const { repo, ids } = await anchoredTrail(t);
  const proofs = await readProofs(repo.gitDir);
  await setNote(repo, ids[0]!, proofs.get(ids[4]!)!);
  await setNote(repo, ids[4]!, proofs.get(ids[0]!)!);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.deepEqual(
    kinds(v),
    [
      ['digest-mismatch', ids[0]],
      ['digest-mismatch', ids[4]],
    ].sort(),
  );
  assert.match(v.findings[0]!.message, /proof is for [0-9a-f]{40}, not for this commit/);
});

test('corrupt a loose object on disk', async (t) => {
  const { repo } = await anchoredTrail(t);
  const blob = await g(repo.gitDir, ['rev-parse', 'refs/heads/observed:hosts']);
  const file = join(repo.gitDir, 'objects', blob.slice(0, 2), blob.slice(2));
  await chmod(file, 0o644);
  // Well-formed zlib of a different blob under the old name: only re-hashing catches it.
  await writeFile(file, deflateSync(Buffer.from('blob 14\u000010.6.6.6 evil\n')));
  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'failed');
  const integrity = v.findings.filter((f) => f.kind === 'object-integrity');
  assert.ok(integrity.length > 0);
  assert.ok(
    integrity.some((f) => f.message.includes(blob)),
    JSON.stringify(integrity),
  );
});

test('corrupt a packed object on disk', async (t) => {
  const { repo } = await anchoredTrail(t);
  await g(repo.gitDir, ['repack', '-a', '-d', '-q']);
  const packDir = join(repo.gitDir, 'objects', 'pack');
  const pack = join(
    packDir,
    (await readdir(packDir)).find((f) => f.endsWith('.pack'))!,
  );
  await chmod(pack, 0o644);
  const bytes = await readFile(pack);
  const size = (await stat(pack)).size;
  bytes[Math.floor(size / 2)]! ^= 0xff;
  await writeFile(pack, bytes);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.equal(v.status, 'failed');
  assert.ok(
    v.findings.some((f) => f.kind === 'object-integrity'),
    JSON.stringify(v.findings),
  );
});

test('a commit dated after the block that proves it existed', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const now = Math.floor(Date.now() / 1000);
  const id = await repo.commit('from the future', { hosts: 'x\n' }, [], now + 86400);
  await repo.setRef('refs/heads/observed', id);
  await anchorAll(repo, now);
  const v = await verify(repo.gitDir, undefined, opts());
  assert.deepEqual(kinds(v), [['commit-after-anchor', id]]);
});

test('a proof naming a block that does not exist', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const [id] = await chain(repo, 'refs/heads/observed', 1);
  await stampBatch(repo.gitDir, opts());
  cal.mine(++height, Math.floor(Date.now() / 1000)); // the explorer never hears of it
  await upgrade(repo.gitDir, opts());
  const v = await verify(repo.gitDir, undefined, opts());
  assert.deepEqual(kinds(v), [['no-such-block', id]]);
});
