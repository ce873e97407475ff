// A file rewritten in place (open with O_TRUNC, then write) is empty for a moment; a read
// that lands in that moment must not be taken as the file's version when the file was just
// emptied: it is looked at again after a short pause.
import { strict as assert } from 'node:assert';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { looksLikePrivateKey, readStable } from '../../../src/record/read/file-reader.js';
import { tempDir } from '../../support/cli.js';

const tmp = tempDir('trail-readfile-');
after(tmp.cleanup);

// The writer: blocked until told, then writes the file's new content at once.
const WRITER = `
const { workerData } = require('node:worker_threads');
const { writeSync, openSync, closeSync } = require('node:fs');
const flag = new Int32Array(workerData.flag);
for (;;) {
  Atomics.wait(flag, 0, 0);
  if (Atomics.load(flag, 0) === 2) break;
  const fd = openSync(workerData.file, 'r+');
  writeSync(fd, workerData.content, 0);
  closeSync(fd);
  Atomics.store(flag, 0, 0);
}`;

it('reads the content written right after a truncation, not the empty moment between', async () => {
  const file = join(tmp.path, 'conf');
  const content = 'the whole new version\n';
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(WRITER, { eval: true, workerData: { flag: flag.buffer, file, content } });
  await new Promise((r) => w.once('online', r));
  const rounds = 40;
  let whole = 0;
  try {
    for (let i = 0; i < rounds; i++) {
      writeFileSync(file, ''); // the writer's open(O_TRUNC)
      const st = statSync(file);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0); // … and its write, from another thread, right after
      const r = readStable(file, st, 1 << 20);
      if ('content' in r && r.content.toString() === content) whole++;
      else assert.ok('content' in r && r.content.length === 0, `neither empty nor whole: ${JSON.stringify(r)}`);
      while (Atomics.load(flag, 0) !== 0) await new Promise((res) => setTimeout(res, 1));
    }
  } finally {
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
    await w.terminate();
  }
  // Without the pause, about half the reads land before the writer has even woken up.
  assert.ok(whole >= rounds * 0.75, `${whole} of ${rounds} reads saw the whole version`);
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
