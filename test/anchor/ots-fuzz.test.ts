// .ots bytes reach trail from two places it does not control: the notes ref (anyone who can
// write the shadow repo, or a pushed copy coming back) and calendars' HTTP answers. Whatever
// they hold, the answer must be a proof that every later step can use, or a clean error:
// never a crash, a hang, a stack overflow later on, or an allocation sized by the input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { CalendarError, fetchUpgrade, submitDigest } from '../../src/anchor/calendar-client.js';
import { checkAgainstBlocks } from '../../src/anchor/proof-check.js';
import { attestationsOf, parseProof, pendingOf, ProofError } from '../../src/anchor/proof-tree.js';
import { readProofs, writeProofNotes } from '../../src/anchor/shadow-git.js';
import { stampBatch } from '../../src/anchor/stamp-batch.js';
import { upgrade } from '../../src/anchor/upgrade-proofs.js';
import { ots, type OtsDetached } from '../../src/anchor/ots-package.js';
import { OtsCalendarStub, sha256, varbytes, varuint } from '../support/ots-calendar.js';
import { anchorOpts, chain, makeRepo, quietly } from './helpers.js';

const MAGIC = Buffer.from('004f70656e54696d657374616d7073000050726f6f6600bf89e2e884e89294', 'hex');
const PENDING = Buffer.from('83dfe30d2ef90c8e', 'hex');
const BITCOIN = Buffer.from('0588960d73d71901', 'hex');
const examples = join(dirname(createRequire(import.meta.url).resolve('opentimestamps/package.json')), 'examples');

/** Real proofs: the package's examples (made by the reference tools) and trail's own, pending
 * and upgraded to Bitcoin, made against the local calendar. */
const seeds: Buffer[] = readdirSync(examples)
  .filter((f) => f.endsWith('.ots'))
  .map((f) => readFileSync(join(examples, f)));
const cal = new OtsCalendarStub();
let cleanup: (() => Promise<void>) | undefined;

before(async () => {
  await cal.start();
  const repo = await makeRepo();
  cleanup = () => repo.cleanup();
  await chain(repo, 'refs/heads/observed', 3);
  const r = await stampBatch(repo.gitDir, anchorOpts([cal.url], 'http://unused'));
  assert.equal(r.outcome, 'stamped');
  seeds.push(...(await readProofs(repo.gitDir)).values());
  cal.mine(800_000, 1_700_000_000);
  const u = await upgrade(repo.gitDir, { calendars: [cal.url], timeoutMs: 10_000 });
  assert.equal(u.upgraded.length, 3);
  seeds.push(...(await readProofs(repo.gitDir)).values());
});
after(async () => {
  await cal.stop();
  await cleanup?.();
});

/** Everything trail does with a parsed proof, offline. */
async function use(d: OtsDetached): Promise<void> {
  d.fileDigest();
  const t = d.timestamp;
  attestationsOf(t);
  [...t.getAttestations()];
  t.isTimestampComplete();
  for (const p of pendingOf(t)) p.node.isTimestampComplete();
  await checkAgainstBlocks(t, undefined);
  parseProof(d.serializeToBytes());
}

/** parseProof's contract: a usable proof or a ProofError, nothing else. */
async function parsesCleanly(bytes: Uint8Array): Promise<'ok' | 'refused'> {
  let d: OtsDetached;
  try {
    d = parseProof(bytes);
  } catch (err) {
    assert.ok(err instanceof ProofError, `not a ProofError: ${String(err)}`);
    assert.ok(err.message.length > 0 && err.message.length < 300 && !/[\x00-\x1f]/.test(err.message), err.message);
    return 'refused';
  }
  await use(d);
  return 'ok';
}

test('every seed proof parses and is usable (the fuzz below starts from real proofs)', async () => {
  assert.ok(seeds.length >= 12, `${seeds.length} seeds`);
  for (const s of seeds) assert.equal(await parsesCleanly(s), 'ok');
});

test('regression: a damaged attestation that reads but is written back otherwise is refused', async () => {
  // Found by the mutation fuzz below (seed 581166782): the package read it, and wrote it
  // back with another length, which then read no more.
  const bytes = Buffer.from([
    0, 79, 112, 101, 110, 84, 105, 109, 101, 115, 116, 97, 109, 112, 115, 0, 0, 80, 114, 111, 111, 102, 0, 191, 137,
    226, 232, 132, 232, 146, 148, 1, 2, 28, 206, 42, 98, 241, 113, 76, 58, 137, 236, 75, 30, 255, 249, 41, 69, 120, 74,
    217, 160, 240, 16, 160, 116, 206, 98, 10, 98, 157, 228, 52, 231, 26, 72, 215, 224, 177, 220, 8, 240, 32, 33, 66, 25,
    153, 77, 64, 131, 230, 7, 216, 91, 11, 22, 172, 225, 120, 255, 15, 52, 39, 25, 134, 156, 192, 157, 99, 44, 27, 23,
    44, 144, 164, 8, 240, 32, 104, 16, 135, 107, 29, 168, 162, 245, 174, 54, 88, 45, 98, 119, 52, 192, 70, 78, 182, 209,
    158, 4, 126, 83, 159, 33, 159, 232, 242, 242, 218, 42, 8, 240, 16, 178, 13, 16, 171, 108, 169, 219, 176, 204, 137,
    204, 55, 211, 148, 252, 229, 8, 241, 4, 107, 21, 104, 54, 240, 8, 222, 4, 32, 123, 119, 133, 23, 27, 255, 0, 50, 55,
    46, 48, 46, 48, 46, 49, 58, 0, 1, 202, 42, 117, 62, 96, 175, 126, 66, 250, 121, 80, 140, 224, 55, 238, 4, 198, 148,
    66, 180, 210, 157, 59, 214, 184, 254, 163, 215, 64, 121, 42, 245, 239, 226, 113, 71, 0, 255, 255, 255, 255, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 34, 0, 106, 32, 240, 4, 0,
  ]);
  assert.equal(await parsesCleanly(bytes), 'refused');
});

test('random bytes, with or without the .ots header: a proof or a ProofError', async () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([MAGIC, Buffer.from([1]), Buffer.from(b)])),
  );
  await fc.assert(
    fc.asyncProperty(bytes, async (b) => void (await parsesCleanly(b))),
    { numRuns: 3000 },
  );
});

test('real proofs mutated (bytes flipped, inserted, removed, cut short, slices repeated): a proof or a ProofError', async () => {
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(
        fc.tuple(
          fc.constantFrom('flip', 'insert', 'delete', 'cut', 'repeat'),
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          fc.nat({ max: 64 }),
        ),
        { minLength: 1, maxLength: 5 },
      ),
    )
    .map(([seed, ops]) => {
      let b = Buffer.from(seed);
      for (const [op, pos, byte, len] of ops) {
        const i = pos % (b.length + 1);
        if (op === 'flip') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i + 1)]);
        else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
        else if (op === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + len)]);
        else if (op === 'cut') b = b.subarray(0, i);
        else b = Buffer.concat([b.subarray(0, i + len), b.subarray(i)]);
      }
      return b;
    });
  let ok = 0;
  await fc.assert(
    fc.asyncProperty(mutated, async (b) => void ((await parsesCleanly(b)) === 'ok' && ok++)),
    { numRuns: 3000 },
  );
  // Some mutations land in nonces or digests and still parse: the "usable" half is exercised.
  assert.ok(ok > 0);
});

/** A detached proof of `digest` (SHA-256 file hash): `body` is its timestamp. */
const detached = (digest: Buffer, body: Buffer) => Buffer.concat([MAGIC, Buffer.from([1, 0x08]), digest, body]);
const pendingAtt = (uri: string) =>
  Buffer.concat([Buffer.from([0]), PENDING, varbytes(varbytes(Buffer.from(uri, 'latin1')))]);
/** A varuint the package cannot hold in 32 bits: it must neither wrap into a valid length nor
 * allocate what it says. */
const HUGE = [2 ** 60, 2 ** 53 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 31, 2 ** 31 - 1, 4097, 8193];

test('lengths of 2^60, 2^32 and past the limits in every varint: refused, nothing of that size allocated', async () => {
  const d = sha256(Buffer.from('x'));
  const cases: Buffer[] = [];
  for (const n of HUGE) {
    cases.push(Buffer.concat([MAGIC, varuint(n)])); // major version
    cases.push(detached(d, Buffer.concat([Buffer.from([0xf0]), varuint(n), Buffer.alloc(16)]))); // append argument
    cases.push(detached(d, Buffer.concat([Buffer.from([0]), PENDING, varuint(n), Buffer.alloc(16)]))); // attestation payload
    cases.push(
      detached(
        d,
        Buffer.concat([Buffer.from([0]), PENDING, varbytes(Buffer.concat([varuint(n), Buffer.from('http://x')]))]),
      ),
    ); // URI inside it
    cases.push(detached(d, Buffer.concat([Buffer.from([0]), BITCOIN, varbytes(varuint(n))]))); // block height
  }
  const before = process.memoryUsage().rss;
  for (const c of cases) await parsesCleanly(c);
  // rss is noisy but a 2^32-element array would be tens of GB: any real allocation shows.
  assert.ok(process.memoryUsage().rss - before < 512 << 20);
  assert.equal(await parsesCleanly(Buffer.alloc(64 << 20)), 'refused');
});

test('a proof nested thousands of ops deep is refused at parse time, not by a stack overflow later', async () => {
  const d = sha256(Buffer.from('x'));
  for (const depth of [257, 1000, 3000, 5000, 100_000]) {
    const bytes = detached(
      d,
      Buffer.concat([Buffer.alloc(depth, 0x08), pendingAtt('https://a.pool.opentimestamps.org')]),
    );
    await assert.rejects(
      async () => parseProof(bytes),
      (e: Error) => e instanceof ProofError && /nested deeper than 256/.test(e.message),
    );
  }
  // 256 is the reference client's limit: still a proof.
  assert.equal(
    await parsesCleanly(
      detached(d, Buffer.concat([Buffer.alloc(255, 0x08), pendingAtt('https://a.pool.opentimestamps.org')])),
    ),
    'ok',
  );
  // A calendar URI with characters the package refuses used to parse into an `undefined`
  // attestation, which serializing then tripped over.
  assert.equal(await parsesCleanly(detached(d, pendingAtt('https://a.pool.opentimestamps.org/"<x>'))), 'refused');
  // The mutation fuzz's counterexample: trail's own pending proof with a NUL in its URI.
  const found =
    '004f70656e54696d657374616d7073000050726f6f6600bf89e2e884e892940102351cf95aa024ae234e6dfdfe2a6b882d6055283ff010c51447d8f83730ed48954c37268e936008f12094f665e36f4155a59d6319c054a0c4aba8fb65fd6247ab89a463676144a1377708f01061d6455dd245f9a08cc9da1a38d54bd508f1046b07da1af008eabfdfc10f538a340083dfe30d2ef90c8e1716007474703a2f2f3132372e302e302e313a3339383833';
  assert.equal(await parsesCleanly(Buffer.from(found, 'hex')), 'refused');
});

// --------------------------------------------------------------- calendars' answers

/** A calendar that answers whatever the test says, to both of its endpoints. */
let answer: { status: number; body: Buffer } = { status: 200, body: Buffer.alloc(0) };
let evil: Server;
let evilUrl = '';
before(async () => {
  evil = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, {
        'content-type': 'application/octet-stream',
        'content-length': answer.body.length,
      });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
});
after(async () => {
  evil.closeAllConnections();
  await new Promise((r) => evil.close(r));
});

const DIGEST = sha256(Buffer.from('batch tip'));

test('calendar answers, random and mutated: submit gives a checked timestamp or a CalendarError; upgrade never throws', async () => {
  // A well-formed answer to our digest, to mutate: what the stub calendar would send.
  const good = Buffer.concat([
    Buffer.from([0xf0]),
    varbytes(Buffer.alloc(16, 7)),
    Buffer.from([0x08]),
    pendingAtt(cal.url),
  ]);
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 40 })).map(([pos, byte, cut]) => {
      const b = Buffer.from(good);
      b[pos % b.length] = byte;
      return b.subarray(0, b.length - (cut % b.length));
    }),
    fc.constantFrom(...HUGE).map((n) => Buffer.concat([Buffer.from([0xf0]), varuint(n)])),
  );
  const status = fc.constantFrom(200, 200, 200, 404, 500);
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(body, status, async (b, s) => {
      answer = { status: s, body: b };
      try {
        const t = await submitDigest(evilUrl, DIGEST, 2000);
        // Accepted answers are rooted at our digest, attest something, and can be used.
        assert.ok(Buffer.from(t.msg).equals(DIGEST));
        await use(parseProof(detached(DIGEST, Buffer.from(serializeTimestamp(t)))));
        accepted++;
      } catch (err) {
        assert.ok(err instanceof CalendarError, `submit threw ${String(err)}`);
      }
      const up = await fetchUpgrade(evilUrl, [...DIGEST], 2000);
      assert.ok(['upgraded', 'pending', 'unknown', 'error'].includes(up.kind));
    }),
    { numRuns: 250 },
  );
  assert.ok(accepted > 0, 'some mutated answers are still valid');
});

/** The accepted answer as a batch uses it: merged under a proof of the digest, serialized by
 * the package (as the notes are written), read back. */
function serializeTimestamp(t: OtsDetached['timestamp']): Uint8Array {
  const d = ots().DetachedTimestampFile.fromHash(new (ots().Ops.OpSHA256)(), DIGEST);
  d.timestamp.merge(t);
  return Buffer.from(d.serializeToBytes()).subarray(MAGIC.length + 2 + 32);
}

test('regression: a calendar answering a 3,000-op chain no longer breaks every batch and upgrade', async (t) => {
  const repo = await makeRepo();
  t.after(() => repo.cleanup());
  const ids = await chain(repo, 'refs/heads/observed', 2);
  // Rooted at whatever digest is posted: the chain's ops are digest-independent.
  const deep = Buffer.concat([Buffer.alloc(3000, 0x08), pendingAtt(evilUrl)]);
  answer = { status: 200, body: deep };
  // Before: the deep answer parsed and counted as a calendar's answer; serializing the
  // batch's proofs then overflowed the stack, so the batch threw — and did again next time.
  const r = await quietly(() =>
    stampBatch(repo.gitDir, anchorOpts([evilUrl, cal.url], 'http://unused', { minCalendars: 1 })),
  );
  assert.equal(r.outcome, 'stamped');
  assert.deepEqual(
    r.calendars.map((c) => [c.url, c.ok]),
    [
      [evilUrl, false],
      [cal.url, true],
    ],
  );
  assert.match(r.calendars[0]!.error!, /nested deeper than 256/);
  // The same answer as an upgrade, and a note that deep: reported, not thrown.
  const proofs = await readProofs(repo.gitDir);
  assert.deepEqual([...proofs.keys()].sort(), [...ids].sort());
  await writeProofNotes(
    repo.gitDir,
    new Map([
      [
        ids[0]!,
        detached(sha256(Buffer.from('hostile')), Buffer.concat([Buffer.alloc(6000, 0x08), pendingAtt(cal.url)])),
      ],
    ]),
    'test: a hostile note',
  );
  const u = await upgrade(repo.gitDir, { calendars: [cal.url, evilUrl], timeoutMs: 2000 });
  assert.deepEqual(u.unreadable, [ids[0]]);
});
