// The fast path of a first snapshot and of `status --full`: reader threads read, hash and
// (for a pack) frame each file as a stored zlib entry. It must record exactly what the
// one-thread path records, and git must read the pack it makes like any other.
import { strict as assert } from 'node:assert';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  statSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { HashOnlyWriter, type ObjectWriter } from '../../../src/record/store/object-writer.js';
import { LooseWriter } from '../../../src/record/store/loose-writer.js';
import { PackWriter } from '../../../src/record/store/pack-writer.js';
import { makeRules } from '../../../src/record/list/rules.js';
import { scan, type ScanResult } from '../../../src/record/scanner.js';
import { adler32, storedEntry } from '../../../src/record/store/stored.js';
import { run } from '../../../src/util/exec.js';
import { spawnSync } from 'node:child_process';
import { BIN, makeTree as makeBenchTree, scratchTrail, trail, tempDir } from '../../support/cli.js';
import { catObjects } from '../../support/hostile-cli.js';

const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';

const scratch = mkdtempSync(join(tmpdir(), 'trail-readpool-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const KEY = Buffer.alloc(32, 7);
const PEM = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

/** A tree well past the thread threshold, with what the reader threads must treat apart:
 * secrets by path and by content, files over maxFileSize, empty files, block-size edges, a
 * name that is not UTF-8, symlinks. Returns the paths (relative) of regular files. */
function makeTree(dir: string, n: number): string[] {
  const files: string[] = [];
  const sizes = [0, 1, 4095, 65534, 65535, 65536, 65537, 131071, 200_000];
  for (let i = 0; i < n; i++) {
    const sub = `d${i % 17}/e${i % 5}`;
    mkdirSync(join(dir, sub), { recursive: true });
    const size = i % 40 === 0 ? sizes[(i / 40) % sizes.length]! : 50 + ((i * 7919) % 6000);
    const body = i % 3 === 0 ? randomBytes(size) : Buffer.from(`line ${i} `.repeat(Math.ceil(size / 8)).slice(0, size));
    const p = `${sub}/f${i}.conf`;
    writeFileSync(join(dir, p), body);
    if (i % 11 === 0) chmodSync(join(dir, p), 0o640);
    files.push(p);
  }
  writeFileSync(join(dir, 'shadow'), 'root:$6$secret:19000:0:99999:7:::\n');
  writeFileSync(join(dir, 'd1/id_host'), PEM);
  writeFileSync(join(dir, 'd2/big.bin'), randomBytes(300_000));
  writeFileSync(Buffer.from(join(dir, 'd3/caf\xe9.conf'), 'latin1'), 'latin1 name\n');
  symlinkSync('d1/e1/f1.conf', join(dir, 'link'));
  symlinkSync('missing', join(dir, 'dangling'));
  files.push('shadow', 'd1/id_host', 'd2/big.bin');
  return files;
}

async function scanWith(dir: string, writer: ObjectWriter, threads: boolean, full = false): Promise<ScanResult> {
  return scan({
    root: dir,
    rules: makeRules([], []),
    previous: new Map(),
    full,
    writer,
    secretKey: KEY,
    maxFileSize: 250_000,
    threads,
  });
}

/** Everything a scan decides about each path, minus what legitimately differs between two
 * runs (nothing should). */
function summary(r: ScanResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [p, e] of r.state) out[p] = { meta: e.meta, oid: e.oid, secretOid: e.secretOid, stat: e.stat };
  return {
    state: out,
    skipped: r.skipped,
    digestOnly: [...r.digestOnly].sort(),
    read: r.read,
    files: r.files,
    bytes: r.bytes,
  };
}

describe('stored pack entries', () => {
  it('are zlib streams any inflater reads, with zlib’s Adler-32 and the entry’s CRC-32', () => {
    for (const n of [0, 1, 15, 16, 65534, 65535, 65536, 65537, 200_000]) {
      const data = randomBytes(n);
      const { entry } = storedEntry(3, data);
      let i = 0;
      while (entry[i]! & 0x80) i++;
      const body = entry.subarray(i + 1);
      assert.ok(inflateSync(body).equals(data), `round trip of ${n} bytes`);
      assert.equal(body.readUInt32BE(body.length - 4), adler32(data));
    }
  });
});

describe('scan with reader threads', () => {
  const dir = join(scratch, 'tree');
  mkdirSync(dir);
  const files = makeTree(dir, 700);

  it('records exactly what the one-thread scan records (hash only, as status --full)', async () => {
    const one = await scanWith(dir, new HashOnlyWriter(), false, true);
    const many = await scanWith(dir, new HashOnlyWriter(), true, true);
    assert.equal(one.read, files.length + 1);
    assert.deepEqual(summary(many), summary(one));
    assert.ok(one.digestOnly.includes('d2/big.bin'));
    const shadow = one.state.get('shadow')!;
    assert.ok(shadow.meta.secret && shadow.secretOid, 'secret by path');
    assert.ok(one.state.get('d1/id_host')!.meta.secret, 'secret by content');
  });

  it('writes a pack of stored entries that git verifies, with every blob byte for byte', async () => {
    const gitDir = join(scratch, 'r.git');
    await run('git', ['init', '-q', '--bare', gitDir]);
    const w = new PackWriter(gitDir, { level: 0 });
    const res = await scanWith(dir, w, true);
    await w.finish();
    const loose = await scanWith(dir, new LooseWriter(join(scratch, 'unused.git')), false);
    assert.deepEqual(summary(res), summary(loose), 'same state as the one-thread scan into loose objects');
    const pack = (await run('ls', [join(gitDir, 'objects', 'pack')])).stdout
      .toString()
      .split('\n')
      .find((f) => f.endsWith('.idx'))!;
    const vp = await run('git', ['verify-pack', '-v', join(gitDir, 'objects', 'pack', pack)]);
    assert.match(vp.stdout.toString(), /: ok$/m);
    // git's own idx for this pack is ours, byte for byte (offsets, CRCs, order).
    const theirs = join(scratch, 'theirs.idx');
    await run('git', ['index-pack', '-o', theirs, join(gitDir, 'objects', 'pack', pack.replace(/\.idx$/, '.pack'))]);
    assert.ok(readFileSync(theirs).equals(readFileSync(join(gitDir, 'objects', 'pack', pack))));
    const stored = [...res.state].filter(([, e]) => e.meta.kind === 'file' && !e.meta.digest);
    const blobs = catObjects(
      gitDir,
      stored.map(([, e]) => e.secretOid ?? e.oid!),
    );
    for (const [p, e] of stored) {
      const got = blobs.get(e.secretOid ?? e.oid!);
      assert.ok(got?.equals(readFileSync(Buffer.from(join(dir, p), 'latin1'))), `content of ${p}`);
    }
  });

  it('writes every blob it names into loose objects, the empty one too', async () => {
    const gitDir = join(scratch, 'loose.git');
    await run('git', ['init', '-q', '--bare', gitDir]);
    writeFileSync(join(dir, 'emptied'), '');
    try {
      const w = new LooseWriter(gitDir);
      const res = await scanWith(dir, w, true);
      await w.finish();
      const named = [...res.state.values()].flatMap((e) => [e.oid, e.secretOid]).filter((x): x is string => !!x);
      assert.ok(named.includes(EMPTY_BLOB), 'the tree holds an empty file');
      const have = catObjects(gitDir, [...new Set(named)]);
      assert.deepEqual(
        named.filter((oid) => !have.has(oid)),
        [],
        'objects named by the scan but not written',
      );
    } finally {
      rmSync(join(dir, 'emptied'));
    }
  });
});

describe('listing a tree on reader threads', () => {
  it('lists what the one-thread walk lists, in its order, with the same skips', async () => {
    const dir = join(scratch, 'listing');
    mkdirSync(dir);
    makeTree(dir, 300);
    // What the listing treats apart: ignored files and folders (not walked into), hard
    // links (the first in listing order is the one the others point to), a fifo, an empty
    // folder, a symlink to a folder (not followed), names that sort differently as bytes.
    mkdirSync(join(dir, 'cache/deep'), { recursive: true });
    writeFileSync(join(dir, 'cache/deep/x'), 'x');
    writeFileSync(join(dir, 'd4/old.bak'), 'old');
    linkSync(join(dir, 'd4/e4/f4.conf'), join(dir, 'd0/hard-z'));
    linkSync(join(dir, 'd4/e4/f4.conf'), join(dir, 'a-hard'));
    mkdirSync(join(dir, 'empty'));
    symlinkSync('d1', join(dir, 'd1-link'));
    mkdirSync(join(dir, 'a.b'));
    writeFileSync(join(dir, 'a.b/c'), 'c');
    writeFileSync(join(dir, 'a-b'), 'ab');
    await run('mkfifo', [join(dir, 'd5/fifo')]);
    const rules = makeRules(['*.bak', 'cache'], []);
    const scanOn = (threads: boolean) =>
      scan({
        root: dir,
        rules,
        previous: new Map(),
        full: true,
        writer: new HashOnlyWriter(),
        secretKey: KEY,
        maxFileSize: 250_000,
        threads,
      });
    const one = await scanOn(false);
    const many = await scanOn(true);
    assert.deepEqual([...many.state.keys()], [...one.state.keys()], 'same paths in the same order');
    assert.deepEqual(summary(many), summary(one));
    assert.equal(many.ignored, one.ignored);
    assert.ok(!one.state.has('cache/deep/x') && !one.state.has('d4/old.bak') && one.ignored === 2);
    assert.equal(one.state.get('d0/hard-z')!.meta.link, 'a-hard', 'the first hard link in listing order');
    assert.equal(one.state.get('d5/fifo')!.meta.kind, 'fifo');
    assert.equal(one.state.get('d1-link')!.meta.kind, 'symlink');
    assert.equal(one.state.get('empty')!.meta.kind, 'dir');
  });
});

describe('trail on a tree that takes the threaded path', () => {
  it('init, then status --full catches a change whose size and mtime were put back', async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const home = join(tmp.path, 'home');
    const dir = join(tmp.path, 'etc');
    mkdirSync(dir);
    const files = makeTree(dir, 500);
    // A small tree: the threads are forced (by default they start from 48 MB to read).
    const env = { TRAIL_READ_THREADS: 'always' };
    const init = await trail(home, ['init', dir, '--json'], { env });
    assert.equal(init.code, 0, init.stderr);
    const fsck = await run('git', [
      '--git-dir',
      init.json.repo as string,
      'fsck',
      '--strict',
      '--full',
      '--no-dangling',
    ]);
    assert.equal(fsck.stderr.toString().trim(), '');
    const clean = await trail(home, ['status', '--full', '--json'], { env });
    assert.equal(clean.code, 0, JSON.stringify(clean.json?.changes));

    const victim = join(dir, files[123]!);
    const st = statSync(victim);
    const bytes = readFileSync(victim);
    bytes[0] = bytes[0]! ^ 1; // same size
    writeFileSync(victim, bytes);
    utimesSync(victim, st.atime, st.mtime); // same mtime
    const full = await trail(home, ['status', '--full', '--json'], { env });
    assert.equal(full.code, 3, full.stdout);
    assert.deepEqual(
      full.json.changes.map((c: { path: string }) => c.path),
      [files[123]],
    );
  });
});

describe("the threads under the systemd unit's node options", () => {
  it('start when node runs with a V8 option a Worker refuses if given explicitly', async (t) => {
    const { home, dir } = scratchTrail(t);
    // Forced threads: the listing, the reads and the pack's deflate workers all start.
    makeBenchTree(dir, 100);
    const node = (args: string[]) =>
      spawnSync(process.execPath, ['--max-semi-space-size=2', BIN, ...args], {
        env: { ...process.env, TRAIL_READ_THREADS: 'always', TRAIL_HOME: home },
        encoding: 'utf8',
      });
    const init = node(['init', dir, '--json']);
    assert.equal(init.status, 0, init.stderr);
    for (const args of [
      ['status', '--json'],
      ['status', '--full', '--json'],
      ['snapshot', '-m', 'again', '--json'],
    ]) {
      const r = node(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
