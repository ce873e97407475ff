// The core's promise: what trail records, trail restores exactly. A tree from the bench
// generator gets many random mutations of every kind trail keeps; after a revert to the first
// commit, an independent walker must find the tree identical, attribute for attribute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  lstatSync,
  appendFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeTree, compareTrees } from '../support/treewalk.js';
import { trail, tempDir, makeTree, git } from '../support/cli.js';
import { STORE_FROM } from '../../src/record/store/pack-writer.js';
import { repacksEnded } from '../support/background-repack.js';

/** A small deterministic PRNG, so a failure can be replayed with the same seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function allPaths(root: string, rel = ''): { files: string[]; dirs: string[]; links: string[] } {
  const out = { files: [] as string[], dirs: [] as string[], links: [] as string[] };
  for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isSymbolicLink()) out.links.push(p);
    else if (d.isDirectory()) {
      out.dirs.push(p);
      const sub = allPaths(root, p);
      out.files.push(...sub.files);
      out.dirs.push(...sub.dirs);
      out.links.push(...sub.links);
    } else if (d.isFile()) out.files.push(p);
  }
  return out;
}

/** `rounds` random mutations; the tree's paths are listed again every `relist` rounds (a
 * big tree: a path picked may then be gone, and that round does nothing). */
function mutate(root: string, seed: number, rounds: number, relist = 1): string[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const done: string[] = [];
  let paths = allPaths(root);
  for (let i = 0; i < rounds; i++) {
    if (i % relist === 0) paths = allPaths(root);
    const { files, dirs, links } = paths;
    const kind = Math.floor(r() * 12);
    const f = join(root, pick(files));
    try {
      switch (kind) {
        case 0:
          appendFileSync(f, `changed ${i}\n`);
          done.push(`content ${f}`);
          break;
        case 1:
          chmodSync(f, pick([0o600, 0o640, 0o755, 0o4755, 0o2750, 0o1777 & 0o777, 0o400]));
          done.push(`chmod ${f}`);
          break;
        case 2:
          chownSync(f, pick([0, 33, 1000, 65534]), pick([0, 33, 1000, 65534]));
          done.push(`chown ${f}`);
          break;
        case 3:
          if (links.length) {
            const l = join(root, pick(links));
            unlinkSync(l);
            symlinkSync(`retargeted-${i}`, l);
            done.push(`retarget ${l}`);
          }
          break;
        case 4:
          unlinkSync(f);
          done.push(`delete ${f}`);
          break;
        case 5:
          mkdirSync(join(root, pick(dirs), `empty-${i}`));
          done.push('mkdir');
          break;
        case 6:
          spawnSync('setfattr', ['-n', `user.trail${i}`, '-v', `value ${i}`, f]);
          done.push(`xattr ${f}`);
          break;
        case 7:
          writeFileSync(join(root, pick(dirs), `new-${i}.conf`), `new file ${i}\n`);
          done.push('new file');
          break;
        case 8:
          rmSync(join(root, pick(dirs)), { recursive: true, force: true });
          done.push('rm -r');
          break;
        case 9:
          spawnSync('setfacl', ['-m', 'u:nobody:r', f]);
          done.push(`acl ${f}`);
          break;
        case 10: {
          const l = join(root, pick(dirs), `hard-${i}`);
          linkSync(f, l);
          done.push(`hardlink ${l}`);
          break;
        }
        case 11:
          writeFileSync(f, '');
          done.push(`truncate ${f}`);
          break;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (relist === 1 || (code !== 'ENOENT' && code !== 'ENOTDIR')) throw err;
    }
  }
  return done;
}

test('a revert restores the first snapshot exactly after many random mutations', (t) => roundTrip(t, 600, 1));

// The fast paths of a big tree (listing and reading on threads, one pack, blobs stored
// uncompressed from STORE_FROM bytes of content and compressed later, the stat index) must
// keep the same promise. The threads are forced (TRAIL_READ_THREADS=always: by themselves
// they start from LIST_THREADS_FROM = 8,000 entries or 48 MB to read), so 4,000 files, 41 MB,
// take every path; issue #3 asks for 50k, which the soak run takes: TRAIL_BIG_TREE=50000.
const BIG_TREE = Number(process.env.TRAIL_BIG_TREE ?? 4_000);
test(`the same round trip on a ${BIG_TREE.toLocaleString('en')}-file tree`, { timeout: 600_000 }, (t) => {
  return roundTrip(t, BIG_TREE, Math.max(5, Math.round(BIG_TREE / 2000)), { TRAIL_READ_THREADS: 'always' });
});

async function roundTrip(
  t: { after(fn: () => void): void },
  size: number,
  relist: number,
  env: Record<string, string> = {},
): Promise<void> {
  const tmp = tempDir();
  t.after(async () => {
    await repacksEnded(tmp.path);
    tmp.cleanup();
  });
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  makeTree(dir, size, 7);
  // Things the generator does not make: setuid, a capability, a fifo, a device, a hard link,
  // a default ACL, an empty folder, a name that is not UTF-8.
  const { files } = allPaths(dir);
  chmodSync(join(dir, files[0]!), 0o4755);
  spawnSync('setcap', ['cap_net_bind_service=+ep', join(dir, files[1]!)]);
  spawnSync('mkfifo', [join(dir, 'a-fifo')]);
  spawnSync('mknod', [join(dir, 'null-dev'), 'c', '1', '3']);
  linkSync(join(dir, files[2]!), join(dir, 'hard-original'));
  mkdirSync(join(dir, 'acl.d'));
  spawnSync('setfacl', ['-d', '-m', 'u:nobody:rx', join(dir, 'acl.d')]);
  mkdirSync(join(dir, 'empty.d'));
  writeFileSync(Buffer.from(join(dir, 'latin1-caf\xe9'), 'latin1'), 'non-UTF-8 name\n');

  const before = describeTree(dir, { mtime: true });
  if (env.TRAIL_READ_THREADS) {
    let bytes = 0;
    for (const f of files) bytes += lstatSync(join(dir, f)).size;
    assert.ok(bytes >= STORE_FROM, `the big tree must hold at least ${STORE_FROM} bytes (has ${bytes})`);
  }
  const init = await trail(home, ['init', dir, '--json'], { env });
  assert.equal(init.code, 0, init.stderr);
  const repo = init.json.repo as string;

  const done = mutate(dir, 42, 150, relist);
  assert.ok(done.length > 100, 'the mutations ran');
  const snap = await trail(home, ['snapshot', '-m', 'mutations', '--json'], { env });
  assert.equal(snap.code, 0, snap.stderr);
  assert.ok(snap.json.changes.length > 50, `many changes recorded (${snap.json.changes.length})`);
  assert.notDeepEqual(compareTrees(before, describeTree(dir, { mtime: true })), [], 'the tree really changed');

  const rev = await trail(home, ['revert', init.json.commit, '--json'], { env });
  assert.equal(rev.code, 0, rev.stderr + rev.stdout);
  assert.deepEqual(rev.json.left, []);

  const after = describeTree(dir, { mtime: true });
  assert.deepEqual(compareTrees(before, after), []);
  // A big init started a background repack: fsck must not list a pack it then deletes.
  await repacksEnded(repo);
  const fsck = git(repo, ['fsck', '--strict']);
  assert.equal(fsck.code, 0, fsck.stdout.toString() + fsck.stderr.toString());
  const status = await trail(home, ['status', '--full', '--json'], { env });
  assert.equal(status.code, 0, JSON.stringify(status.json?.changes));
  // The revert is itself in the trail, after the mutations, and names what it went back to.
  const log = git(repo, ['log', '--format=%s%n%b', '-1', 'refs/heads/observed']).stdout.toString();
  assert.match(log, new RegExp(`Trail-Reverted-To: ${init.json.commit}`));
  assert.ok(lstatSync(join(dir, 'a-fifo')).isFIFO());
  const clean = await trail(home, ['status', '--json'], { env });
  assert.equal(clean.code, 0, JSON.stringify(clean.json?.changes));
}
