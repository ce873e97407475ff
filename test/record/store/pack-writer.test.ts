import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LooseWriter } from '../../../src/record/store/loose-writer.js';
import { serializeCommit, serializeTree, type TreeItem } from '../../../src/record/store/object-format.js';
import { PackWriter } from '../../../src/record/store/pack-writer.js';
import { entryHeader } from '../../../src/record/store/stored.js';
import { run } from '../../../src/util/exec.js';

const scratch = mkdtempSync(join(tmpdir(), 'trail-packwriter-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let repoN = 0;
async function bareRepo(): Promise<string> {
  const dir = join(scratch, `r${repoN++}.git`);
  await run('git', ['init', '-q', '--bare', '--initial-branch=main', dir]);
  return dir;
}

function git(gitDir: string, args: string[], okCodes?: number[]) {
  return run('git', [`--git-dir=${gitDir}`, ...args], okCodes ? { okCodes } : {});
}

/** Deterministic bytes: text-like (compresses) or noise (does not), so both deflate paths
 * and both kinds of size are covered. */
function content(i: number, size: number): Buffer {
  const seed = createHash('sha256').update(`obj${i}`).digest();
  const buf = Buffer.alloc(size);
  if (i % 3 === 0) {
    let x = seed.readUInt32LE(0) | 1;
    for (let k = 0; k < size; k++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[k] = x & 0xff;
    }
  } else {
    const line = Buffer.from(`key_${i} = value ${seed.toString('hex')}\n`);
    for (let k = 0; k < size; k += line.length) line.copy(buf, k, 0, Math.min(line.length, size - k));
  }
  return buf;
}

const SIZES = [0, 1, 15, 16, 17, 127, 128, 2047, 2048, 4096, 65535, 65536, 300_000];
function sizeOf(i: number): number {
  if (i === 7) return 1_500_000; // > 1 MB through the batched worker path
  if (i === 11) return 5 * 1024 * 1024 + 3; // ≥ 4 MB: deflated on the threadpool in place
  return i % 50 === 0 ? SIZES[(i / 50) % SIZES.length]! : 64 + ((i * 7919) % 9000);
}

/** Writes `n` blobs plus trees and a commit, points refs/heads/main at it, returns the
 * blobs by id. */
async function writeSnapshot(w: PackWriter | LooseWriter, gitDir: string, n: number) {
  const blobs = new Map<string, Buffer>();
  const top: TreeItem[] = [];
  const sub: TreeItem[] = [];
  for (let i = 0; i < n; i++) {
    const c = content(i, sizeOf(i));
    const oid = await w.write('blob', c);
    blobs.set(oid, c);
    (i % 4 === 0 ? sub : top).push({ name: `f${i}`, mode: i % 9 === 0 ? '100755' : '100644', oid });
  }
  // The same content again, under other names: it must be stored once.
  for (let i = 0; i < 20; i++) {
    const oid = await w.write('blob', content(i, sizeOf(i)));
    top.push({ name: `dup${i}`, mode: '100644', oid });
  }
  const subOid = await w.write('tree', serializeTree(sub));
  top.push({ name: 'sub', mode: '40000', oid: subOid });
  const tree = await w.write('tree', serializeTree(top));
  const sig = { name: 'Test', email: 'test@example.invalid', time: 1_700_000_000, tzOffset: 0 };
  const commit = await w.write(
    'commit',
    serializeCommit({ tree, parents: [], author: sig, committer: sig, message: 'snapshot\n' }),
  );
  await w.finish();
  await git(gitDir, ['update-ref', 'refs/heads/main', commit]);
  return { blobs, commit, tree };
}

function packFiles(gitDir: string): string[] {
  try {
    return readdirSync(join(gitDir, 'objects', 'pack')).sort();
  } catch {
    return [];
  }
}

describe('PackWriter', () => {
  it('writes a pack that git verifies, reads and fscks, with an idx identical to index-pack', async () => {
    const gitDir = await bareRepo();
    const w = new PackWriter(gitDir);
    const n = 3000;
    const { blobs, commit } = await writeSnapshot(w, gitDir, n);
    assert.equal(w.count, blobs.size + 3, 'every object once, duplicates dropped');

    const files = packFiles(gitDir);
    assert.equal(files.length, 2, `one pack and its idx, no temp files: ${files.join(' ')}`);
    const idx = join(
      gitDir,
      'objects',
      'pack',
      files.find((f) => f.endsWith('.idx'))!,
    );
    const pack = idx.replace(/\.idx$/, '.pack');

    const vp = await run('git', ['verify-pack', '-v', idx]);
    const out = vp.stdout.toString();
    assert.match(out, new RegExp(`non delta: ${blobs.size + 3} objects`));
    assert.match(out, /: ok$/m);

    const fsck = await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
    assert.equal(fsck.stderr.trim(), '', fsck.stderr);

    const ids = [...blobs.keys()];
    for (const oid of [ids[0]!, ids[7]!, ids[11]!, ids[ids.length - 1]!, ...ids.filter((_, k) => k % 97 === 0)]) {
      const got = await git(gitDir, ['cat-file', '-p', oid]);
      assert.ok(got.stdout.equals(blobs.get(oid)!), `content of ${oid}`);
    }
    const log = await git(gitDir, ['log', '--format=%H %s', 'main']);
    assert.equal(log.stdout.toString().trim(), `${commit} snapshot`);
    const ls = await git(gitDir, ['ls-tree', '-r', 'main']);
    assert.equal(ls.stdout.toString().trim().split('\n').length, n + 20);

    // git's own idx for our pack must be byte for byte ours: fanout, order, CRC32, offsets.
    const theirs = join(scratch, 'theirs.idx');
    await run('git', ['index-pack', '-o', theirs, pack]);
    assert.ok(readFileSync(theirs).equals(readFileSync(idx)), 'idx differs from git index-pack');
  });

  it('counts every object it stores uncompressed, big ones too (maintenance repacks from them)', async () => {
    const gitDir = await bareRepo();
    const w = new PackWriter(gitDir, { level: 0 });
    const small = content(1, 64 * 1024);
    const big = content(2, 5 * 1024 * 1024); // above the size deflated on the threadpool
    await w.write('blob', small);
    await w.write('blob', big);
    await w.finish();
    assert.equal(w.storedBytes, small.length + big.length);
  });

  it('puts offsets in the 64-bit table exactly as git does', async () => {
    const gitDir = await bareRepo();
    const limit = 0x4000;
    const w = new PackWriter(gitDir, { largeOffsetLimit: limit, workers: 1 });
    const { blobs } = await writeSnapshot(w, gitDir, 400);
    const idx = join(
      gitDir,
      'objects',
      'pack',
      packFiles(gitDir).find((f) => f.endsWith('.idx'))!,
    );
    const theirs = join(scratch, 'theirs64.idx');
    await run('git', [
      'index-pack',
      `--index-version=2,0x${limit.toString(16)}`,
      '-o',
      theirs,
      idx.replace(/\.idx$/, '.pack'),
    ]);
    const ours = readFileSync(idx);
    assert.ok(ours.length > 8 + 1024 + (blobs.size + 3) * 28 + 40, 'has a large-offset table');
    assert.ok(readFileSync(theirs).equals(ours), 'idx differs from git index-pack --index-version=2,N');
    await git(gitDir, ['verify-pack', idx]);
    await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
  });

  it('stays correct under back-pressure and without worker threads', async () => {
    for (const opts of [{ maxInFlightBytes: 1 }, { workers: 0, maxInFlightBytes: 64 * 1024 }]) {
      const gitDir = await bareRepo();
      // 1200 objects pass the point where worker threads start (4 MB).
      const { blobs } = await writeSnapshot(new PackWriter(gitDir, opts), gitDir, 1200);
      await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
      const some = [...blobs.keys()].slice(0, 30);
      const batch = await run('git', [`--git-dir=${gitDir}`, 'cat-file', '--batch'], { input: some.join('\n') + '\n' });
      const expected = Buffer.concat(
        some.flatMap((o) => [Buffer.from(`${o} blob ${blobs.get(o)!.length}\n`), blobs.get(o)!, Buffer.from('\n')]),
      );
      assert.ok(batch.stdout.equals(expected), `cat-file --batch with ${JSON.stringify(opts)}`);
    }
  });

  it('leaves nothing behind when nothing was written or when aborted', async () => {
    const gitDir = await bareRepo();
    await new PackWriter(gitDir).finish();
    assert.deepEqual(packFiles(gitDir), []);
    const w = new PackWriter(gitDir);
    for (let i = 0; i < 50; i++) await w.write('blob', content(i, 1000));
    await w.abort();
    assert.deepEqual(packFiles(gitDir), []);
    await assert.rejects(w.write('blob', Buffer.from('late')));
  });

  it('skips objects the repository already has, in packs or loose', async () => {
    const gitDir = await bareRepo();
    const first = await writeSnapshot(new PackWriter(gitDir), gitDir, 500);
    const loose = new LooseWriter(gitDir);
    const looseOid = await loose.write('blob', Buffer.from('already loose\n'));
    await loose.finish();
    const w = new PackWriter(gitDir);
    for (const c of first.blobs.values()) await w.write('blob', c);
    await w.write('blob', Buffer.from('already loose\n'));
    const fresh = await w.write('blob', Buffer.from('new content\n'));
    assert.equal(w.count, 1, 'only the new object is stored');
    await w.finish();
    assert.equal((await git(gitDir, ['cat-file', '-p', fresh])).stdout.toString(), 'new content\n');
    assert.equal((await git(gitDir, ['cat-file', '-t', looseOid])).stdout.toString(), 'blob\n');
    const again = new PackWriter(gitDir, { skipExisting: false });
    for (const c of [...first.blobs.values()].slice(0, 10)) await again.write('blob', c);
    assert.equal(again.count, 10, 'skipExisting: false writes them again');
    await again.finish();
    await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
  });

  it('writing the same objects again is harmless', async () => {
    const gitDir = await bareRepo();
    await writeSnapshot(new PackWriter(gitDir, { workers: 1 }), gitDir, 200);
    await writeSnapshot(new PackWriter(gitDir, { workers: 1, skipExisting: false }), gitDir, 200);
    await writeSnapshot(new LooseWriter(gitDir), gitDir, 50);
    await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
  });

  it('a kill -9 in the middle leaves the repository fsck-clean and usable', async () => {
    const gitDir = await bareRepo();
    // A first snapshot that survives, so that the kill hits a repo with history.
    const first = await writeSnapshot(new PackWriter(gitDir), gitDir, 100);
    const before = packFiles(gitDir);
    const mod = new URL('../../../src/record/store/pack-writer.js', import.meta.url).href;
    const script = `
      import { PackWriter } from ${JSON.stringify(mod)};
      const w = new PackWriter(${JSON.stringify(gitDir)});
      for (let i = 0; ; i++) {
        await w.write('blob', Buffer.alloc(20000 + (i % 5000), String(i)));
        if (i === 2000) process.stdout.write('busy\\n');
      }`;
    const scriptFile = join(scratch, 'killme.mjs');
    writeFileSync(scriptFile, script);
    const child = spawn(process.execPath, [scriptFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('busy')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const leftovers = packFiles(gitDir).filter((f) => !before.includes(f));
    assert.ok(
      leftovers.length === 1 && leftovers[0]!.startsWith('tmp_pack_'),
      `only a temp pack is left: ${leftovers.join(' ')}`,
    );
    const fsck = await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
    assert.equal(fsck.stderr.trim(), '', fsck.stderr);
    assert.equal((await git(gitDir, ['rev-parse', 'main'])).stdout.toString().trim(), first.commit);
    // git's own cleanup knows the temp file for what it is.
    await git(gitDir, ['prune', '--expire=now']);
    assert.deepEqual(packFiles(gitDir), before);
    // And the next writer carries on.
    await writeSnapshot(new PackWriter(gitDir), gitDir, 100);
    await git(gitDir, ['fsck', '--strict', '--full', '--no-dangling']);
  });

  it('encodes entry headers as git does for sizes across the 4- and 7-bit steps', () => {
    assert.deepEqual([...entryHeader(3, 0)], [0x30]);
    assert.deepEqual([...entryHeader(3, 15)], [0x3f]);
    assert.deepEqual([...entryHeader(3, 16)], [0xb0, 0x01]);
    assert.deepEqual([...entryHeader(1, 2047)], [0x9f, 0x7f]);
    assert.deepEqual([...entryHeader(2, 2048)], [0xa0, 0x80, 0x01]);
    // 2^32 + 1: sizes beyond 32 bits must not wrap.
    assert.deepEqual([...entryHeader(3, 2 ** 32 + 1)], [0xb1, 0x80, 0x80, 0x80, 0x80, 0x01]);
  });
});
