// A path changed between the listing and the read: the entry's metadata come from the
// listing, so its stat data must be the listing's too, or the next scan trusts old metadata
// for good. And an entry recorded as skipped keeps no stat data: it is looked at again.
import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { list, type ListingWithThreads } from '../../../src/record/list/lister.js';
import { makeRules } from '../../../src/record/list/rules.js';
import type { State } from '../../../src/record/model/state.js';
import { xattrToolsAvailable } from '../../../src/record/read/xattrs.js';
import { scan, type ScanOptions } from '../../../src/record/scanner.js';
import { HashOnlyWriter } from '../../../src/record/store/object-writer.js';
import { tempDir } from '../../support/cli.js';

const tmp = tempDir('trail-midscan-');
after(tmp.cleanup);

const rules = makeRules([], []);
const cell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => void Atomics.wait(cell, 0, 0, ms);

function options(root: string, previous: State, threads: boolean): ScanOptions {
  return {
    root,
    rules,
    previous,
    writer: new HashOnlyWriter(),
    secretKey: Buffer.alloc(32, 7),
    maxFileSize: 1e6,
    threads,
  };
}

/** Lists `root` now; the scan given it reads later. */
const listNow = (root: string): Promise<ListingWithThreads> => list({ root, rules, threads: false }, [''], 0);

let n = 0;
function freshDir(): string {
  const dir = join(tmp.path, `t${n++}`);
  mkdirSync(dir);
  return dir;
}

for (const threads of [false, true]) {
  const on = threads ? 'on reader threads' : 'on the scan’s thread';

  describe(`a file changed between listing and reading, ${on}`, () => {
    it('a chmod after the listing is seen by the next scan', async () => {
      const dir = freshDir();
      writeFileSync(join(dir, 'f'), 'v1\n');
      chmodSync(join(dir, 'f'), 0o644);
      const listing = await listNow(dir);
      sleep(30); // past the file system's time tick: the chmod moves ctime
      chmodSync(join(dir, 'f'), 0o600);
      const first = await scan({ ...options(dir, new Map(), threads), listing: Promise.resolve(listing) });
      assert.equal(first.state.get('f')!.meta.mode, 0o644, 'the mode as listed');
      const next = await scan(options(dir, first.state, threads));
      assert.equal(next.state.get('f')!.meta.mode, 0o600, 'the next scan takes the mode it lists now');
    });

    it('a file replaced after the listing is skipped without stat data', async () => {
      const dir = freshDir();
      writeFileSync(join(dir, 'f'), 'v1\n');
      const listing = await listNow(dir);
      writeFileSync(join(dir, 'f.new'), 'v2\n');
      renameSync(join(dir, 'f.new'), join(dir, 'f')); // another inode at the path
      const first = await scan({ ...options(dir, new Map(), threads), listing: Promise.resolve(listing) });
      const e = first.state.get('f')!;
      assert.match(e.meta.skipped ?? '', /replaced/);
      assert.equal(e.stat, undefined, 'a skipped entry must never match at the next scan');
    });
  });
}

describe('a folder that cannot be listed', () => {
  it('keeps no stat data, so the next scan looks at it again', async () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'd/x'), 'x\n');
    // Root lists any folder: the listing says what a listing refused with EACCES says.
    const real = await listNow(dir);
    const unlistable = (): ListingWithThreads => ({
      listed: real.listed.filter(([p]) => !p.startsWith('d/')),
      skipped: [{ path: 'd', reason: 'cannot list: permission denied' }],
      unlistable: new Set(['d']),
      ignored: 0,
    });
    const first = await scan({ ...options(dir, new Map(), false), listing: Promise.resolve(unlistable()) });
    const d = first.state.get('d')!;
    assert.ok(d.meta.skipped);
    assert.equal(d.stat, undefined);
    const next = await scan({ ...options(dir, first.state, false), listing: Promise.resolve(unlistable()) });
    assert.notEqual(next.state.get('d'), d, 'made anew, not matched on stat data');
  });

  it('what a folder that cannot be listed held is unknown, not gone: its entries stay', async () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'd/e'), { recursive: true });
    writeFileSync(join(dir, 'd/x'), 'x\n');
    writeFileSync(join(dir, 'd/e/y'), 'y\n');
    writeFileSync(join(dir, 'dx'), 'beside it\n');
    const recorded = (await scan(options(dir, new Map(), false))).state;
    const real = await listNow(dir);
    const listing: ListingWithThreads = {
      listed: real.listed.filter(([p]) => !p.startsWith('d/')),
      skipped: [{ path: 'd', reason: 'cannot list: permission denied' }],
      unlistable: new Set(['d']),
      ignored: 0,
    };
    const got = await scan({ ...options(dir, recorded, false), listing: Promise.resolve(listing) });
    for (const p of ['d/x', 'd/e', 'd/e/y']) assert.equal(got.state.get(p), recorded.get(p), p);
    assert.equal(got.state.get('dx'), recorded.get('dx'), 'a name that only begins like it is its own');
    assert.ok(got.state.get('d')!.meta.skipped);
  });
});

describe('xattrs changed after the whole tree’s getfattr passed, before the read', async () => {
  const usable =
    (await xattrToolsAvailable()) &&
    spawnSync('setfattr', ['-n', 'user.probe', '-v', '1', tmp.path]).status === 0 &&
    spawnSync('bash', ['-c', 'command -v getfattr']).status === 0;
  for (const threads of [false, true]) {
    it(`are read again after the read (${threads ? 'reader threads' : 'one thread'})`, { skip: !usable }, async () => {
      const dir = freshDir();
      // Past XATTRS_WHOLE_TREE (2000), all new: one getfattr -R, started after the listing.
      for (let i = 0; i < 30; i++) {
        mkdirSync(join(dir, `d${i}`));
        for (let j = 0; j < 70; j++) writeFileSync(join(dir, `d${i}/f${j}`), `${i} ${j}\n`);
      }
      mkdirSync(join(dir, 'zz'));
      const target = join(dir, 'zz/target');
      writeFileSync(target, 'target\n');
      assert.equal(spawnSync('setfattr', ['-n', 'user.tag', '-v', 'old', target]).status, 0);
      // A getfattr that, once the real one has dumped the tree, changes the target's xattr:
      // an admin's setfattr landing after the dump passed the file, before trail reads it.
      const bin = join(dir, '..', `bin${n}`);
      mkdirSync(bin);
      const mark = join(bin, 'changed');
      const real = spawnSync('bash', ['-c', 'command -v getfattr']).stdout.toString().trim();
      writeFileSync(
        join(bin, 'getfattr'),
        `#!/bin/bash
out=$(${real} "$@"; echo "rc=$?")
case " $* " in *" -R "*) sleep 0.05; setfattr -n user.tag -v NEW ${target}; touch ${mark};; esac
rc=\${out##*rc=}; printf '%s' "\${out%rc=*}"; exit $rc
`,
        { mode: 0o755 },
      );
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path}`;
      try {
        const listing = await listNow(dir);
        const total = listing.listed.length;
        assert.equal(listing.listed[total - 1]![0], 'zz/target');
        const first = await scan({
          ...options(dir, new Map(), threads),
          listing: Promise.resolve(listing),
          // Before the target (listed last) is read: wait for the change.
          onProgress: (done) => {
            for (let t = 0; done === total && !existsSync(mark) && t < 2000; t++) sleep(5);
          },
        });
        assert.ok(existsSync(mark), 'the tree’s getfattr ran');
        const tag = (s: State) => s.get('zz/target')!.meta.xattrs?.['user.tag'];
        assert.equal(tag(first.state), Buffer.from('NEW').toString('base64'), 'the xattr the read saw');
        assert.equal(first.state.get('d0/f0')!.meta.xattrs, undefined);
      } finally {
        process.env.PATH = path;
        rmSync(bin, { recursive: true, force: true });
      }
    });
  }
});
