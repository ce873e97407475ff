// The package's examples/hello-world.txt.ots, made by no one here and attested in Bitcoin
// block 358391: it must verify against the explorer stub when the stub serves that block's
// real merkle root, and fail with any other root. This is what shows that the verification
// path (ours and the package's) checks real Bitcoin data, not only our own stub's output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EsploraClient } from '../../src/anchor/esplora-client.js';
import { checkAgainstBlocks } from '../../src/anchor/proof-check.js';
import { parseProof } from '../../src/anchor/proof-tree.js';
import { EsploraStub } from '../support/esplora.js';
import { quietly, reference } from './helpers.js';

const REAL_ROOT = '8a1b66ecb7cbd07d8139a7e7d7f2c41aab1f5009b8364aaf61d03ad245e47e00';
const examples = join(dirname(createRequire(import.meta.url).resolve('opentimestamps/package.json')), 'examples');

async function explorerWith(root: string): Promise<EsploraStub> {
  const s = await new EsploraStub().start();
  s.addBlock({ height: 358391, merkleRoot: root, time: 1432827678 });
  return s;
}

const stubs: EsploraStub[] = [];
after(async () => {
  for (const s of stubs) await s.stop();
});

test('hello-world.txt.ots verifies against the real merkle root of block 358391', async () => {
  const file = await readFile(join(examples, 'hello-world.txt'));
  const proof = parseProof(await readFile(join(examples, 'hello-world.txt.ots')));
  assert.equal(Buffer.from(proof.fileDigest()).toString('hex'), createHash('sha256').update(file).digest('hex'));
  const stub = await explorerWith(REAL_ROOT);
  stubs.push(stub);

  const ours = await checkAgainstBlocks(proof.timestamp, new EsploraClient(stub.url, 10_000));
  assert.deepEqual(ours.failures, []);
  assert.deepEqual(
    ours.checks.map((c) => [c.height, c.outcome]),
    [[358391, 'matches']],
  );
  assert.equal(ours.anchoredAt, 1432827678);

  // The package's own verify, on its own parse of the bytes.
  const O = reference();
  const original = O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA256(), createHash('sha256').update(file).digest());
  const theirs = await quietly(() =>
    O.verify(O.DetachedTimestampFile.deserialize(proof.serializeToBytes()), original, {
      ignoreBitcoinNode: true,
      url: stub.url,
      timeout: 10_000,
    }),
  );
  assert.deepEqual(theirs.bitcoin, { timestamp: 1432827678, height: 358391 });
});

test('hello-world.txt.ots fails against any other root', async () => {
  for (const root of [
    REAL_ROOT.replace(/^8/, '9'),
    '00'.repeat(32),
    Buffer.from(REAL_ROOT, 'hex').reverse().toString('hex'),
  ]) {
    const stub = await explorerWith(root);
    stubs.push(stub);
    const proof = parseProof(await readFile(join(examples, 'hello-world.txt.ots')));
    const ours = await checkAgainstBlocks(proof.timestamp, new EsploraClient(stub.url, 10_000));
    assert.deepEqual(
      ours.checks.map((c) => c.outcome),
      ['mismatch'],
      root,
    );
    assert.equal(ours.failures[0]?.kind, 'block-mismatch');
    assert.equal(ours.anchoredAt, undefined);

    const O = reference();
    const file = await readFile(join(examples, 'hello-world.txt'));
    const original = O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA256(), createHash('sha256').update(file).digest());
    const theirs = O.DetachedTimestampFile.deserialize(proof.serializeToBytes());
    await assert.rejects(
      quietly(() => O.verify(theirs, original, { ignoreBitcoinNode: true, url: stub.url, timeout: 10_000 })),
      /merkleroot|verification failed/i,
    );
  }
});

test('an explorer that is unreachable leaves the attestation unchecked, never "failed"', async () => {
  const proof = parseProof(await readFile(join(examples, 'hello-world.txt.ots')));
  const r = await checkAgainstBlocks(proof.timestamp, new EsploraClient('http://127.0.0.1:9', 500));
  assert.deepEqual(r.failures, []);
  assert.equal(r.checks[0]?.outcome, 'unchecked');
  assert.match(r.checks[0]?.detail ?? '', /explorer/);
});
