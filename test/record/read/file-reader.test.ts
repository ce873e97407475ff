// A file rewritten in place (open with O_TRUNC, then write) is empty for a moment; a read
// that lands in that moment must not be taken as the file's version when the file was just
// emptied: it is looked at again after a short pause.
import { strict as assert } from 'node:assert';
import { createHash, createHmac } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { looksLikePrivateKey, readStable, type ReadClock } from '../../../src/record/read/file-reader.js';
import { tempDir } from '../../support/cli.js';

const tmp = tempDir('trail-readfile-');
after(tmp.cleanup);

/** A clock that stands at `at` (the file was emptied just now, however slow the machine) and
 * whose pause runs `during` instead of waiting. */
function clockAt(at: number, during: () => void) {
  let pauses = 0;
  const clock: ReadClock = {
    now: () => at,
    pause: () => {
      pauses++;
      during();
    },
  };
  return { clock, pauses: () => pauses };
}

it('reads the content written during the pause after a truncation, not the empty moment before', () => {
  const file = join(tmp.path, 'conf');
  const content = 'the whole new version\n';
  for (let i = 0; i < 40; i++) {
    writeFileSync(file, ''); // the writer's open(O_TRUNC) …
    const st = statSync(file);
    const { clock, pauses } = clockAt(st.ctimeMs, () => writeFileSync(file, content, { flag: 'r+' })); // … its write
    const r = readStable(file, st, 1 << 20, undefined, clock);
    assert.equal(pauses(), 1);
    assert.ok('content' in r && r.content.toString() === content, `round ${i}: ${JSON.stringify(r)}`);
  }
});

it('takes a file that stays empty through the pause as empty', () => {
  const file = join(tmp.path, 'emptied');
  writeFileSync(file, '');
  const st = statSync(file);
  const { clock, pauses } = clockAt(st.ctimeMs, () => {});
  const r = readStable(file, st, 1 << 20, undefined, clock);
  assert.equal(pauses(), 1);
  assert.ok('content' in r && r.content.length === 0, JSON.stringify(r));
});

it('takes a file that stays empty as empty', () => {
  const file = join(tmp.path, 'empty');
  writeFileSync(file, '');
  const r = readStable(file, statSync(file), 1 << 20);
  assert.ok('content' in r && r.content.length === 0);
});

it('sees a PEM private key by its header, wherever it starts: the reader threads and the scan use this one test', () => {
  const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
  for (const [text, key] of [
    [pem, true],
    ['x'.repeat(100) + pem, true],
    ['-----BEGIN RSA PRIVATE KEY-----\n', true],
    ['-----BEGIN EC PRIVATE KEY-----', true],
    ['-----BEGIN PUBLIC KEY-----\n', false],
    ['-----BEGIN CERTIFICATE-----', false],
    ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' + pem, true], // a bundle: cert, then key
    ['', false],
    ['plain', false],
  ] as const) {
    assert.equal(looksLikePrivateKey(Buffer.from(text)), key, text);
  }
});

it('reads every byte of a file of any size, the last read short or not, once or (recent) twice', () => {
  // Around the first buffer (the fstat size + 1, at least 4096 bytes); these files were just
  // written, so each is read twice and the two reads compared.
  for (const size of [0, 1, 4095, 4096, 4097, 65536, 200_001]) {
    const file = join(tmp.path, `sized-${size}`);
    const content = Buffer.alloc(size, 'abcdefghij');
    writeFileSync(file, content);
    const st = statSync(file);
    const got = readStable(file, { ino: st.ino, dev: st.dev }, 1 << 30);
    assert.ok('content' in got, `${size}: ${JSON.stringify(got)}`);
    assert.equal(got.content.length, size);
    assert.ok(got.content.equals(content), `${size} bytes come back as written`);
  }
});

it('digests a file over maxSize streamed: keyed for a secret, by name or by a private key anywhere in it', () => {
  const key = Buffer.alloc(32, 9);
  const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
  const hmac = (b: Buffer) => 'hmac-sha256:' + createHmac('sha256', key).update(b).digest('hex');
  const plain = Buffer.alloc(3 << 20, 'public ');
  // The header straddles the first 1 MB chunk the digest reads.
  const straddling = Buffer.concat([Buffer.alloc((1 << 20) - 12, 'x'), Buffer.from(pem), Buffer.alloc(5000, 'y')]);
  const cases: [string, Buffer, boolean, { digest: string; secret: boolean }][] = [
    ['plain', plain, false, { digest: createHash('sha256').update(plain).digest('hex'), secret: false }],
    ['secret by name', plain, true, { digest: hmac(plain), secret: true }],
    ['key across chunks', straddling, false, { digest: hmac(straddling), secret: true }],
  ];
  for (const [what, content, secret, want] of cases) {
    const file = join(tmp.path, `digested-${what}`);
    writeFileSync(file, content);
    const st = statSync(file);
    const got = readStable(file, st, 1000, undefined, undefined, { key, secret });
    assert.ok('digest' in got, what);
    assert.deepEqual({ digest: got.digest, secret: got.secret }, want, what);
  }
});
