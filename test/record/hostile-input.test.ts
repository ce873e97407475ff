// Bad input for the shadow repository core (issue 2, "Bad input"): hostile names, huge
// sparse files, unreadable files, files changing while read, folders turning into files,
// symlink loops. Each test drives the real CLI and checks with real git and the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  assertFsck,
  assertSameDisk,
  assertTerminalSafe,
  blobAt,
  bpath,
  catObjects,
  faultRounds,
  gitBlobId,
  lsTree,
  manifest,
  objectExists,
  revParse,
  sandbox,
  trail,
  trailOk,
  until,
  walkDisk,
} from '../support/hostile-cli.js';
import { repacksEnded } from '../support/background-repack.js';

const OBSERVED = 'refs/heads/observed';

/** A commit as git has it: its tree and every blob in it, read by two gits (a git per path
 * read, as blobAt does, cost a second or more of CPU per test). Paths are latin1 byte strings. */
function commitView(gitDir: string, rev: string) {
  const tree = lsTree(gitDir, rev);
  const oids = new Set([...tree.values()].filter((r) => r.type === 'blob').map((r) => r.oid));
  const blobs = catObjects(gitDir, [...oids]);
  assert.equal(blobs.size, oids.size, `blobs of ${rev} missing from the repository`);
  const blob = (path: string): Buffer | undefined => {
    const row = tree.get(path);
    return row?.type === 'blob' ? blobs.get(row.oid) : undefined;
  };
  return { tree, blob, manifest: (metaDir = '') => manifest(gitDir, rev, metaDir, blob) };
}

/** Names that break naive tools, as raw bytes. */
function hostileNames(): Buffer[] {
  return [
    Buffer.from('new\nline'),
    Buffer.from('with space'),
    Buffer.from(' leading space'),
    Buffer.from('-rf'),
    Buffer.from('--help'),
    Buffer.from([0xff, 0xfe, 0x41]), // not UTF-8
    Buffer.from('caf\xe9', 'latin1'), // latin1 é: not UTF-8
    Buffer.from('esc\x1b[31mred'),
    Buffer.from('tab\there'),
    Buffer.from('cr\rhere'),
    Buffer.from('percent%41'), // must not be taken for an escape
    Buffer.from('back\\slash'),
    Buffer.from('x'.repeat(255)),
    Buffer.from('ü'.repeat(127) + 'x'), // 255 bytes of UTF-8
    Buffer.from('@meta'),
    Buffer.from('.git~'),
    Buffer.from('.trail~'),
    Buffer.from('GIT~1'),
  ];
}

test('hostile names: recorded, shown escaped, restored exactly by revert', { timeout: 120_000 }, async () => {
  const sb = sandbox();
  try {
    const d = sb.dir;
    const names = hostileNames();
    for (const [i, n] of names.entries()) writeFileSync(bpath(d, n), `content ${i}\n`);
    // Reserved names as folders: .git anywhere, .trail at the top, @meta in the meta tree.
    mkdirSync(join(d, '.git'));
    writeFileSync(join(d, '.git', 'config'), '[core]\n\tbare = false\n');
    mkdirSync(join(d, '.trail'));
    writeFileSync(join(d, '.trail', 'FORMAT'), 'not trail\n');
    mkdirSync(join(d, 'sub', '@meta'), { recursive: true });
    writeFileSync(join(d, 'sub', '@meta', 'inner'), 'inner\n');
    mkdirSync(join(d, 'sub', '.git'));
    writeFileSync(join(d, 'sub', '.git', 'HEAD'), 'ref: refs/heads/main\n');
    mkdirSync(join(d, 'sub', '.trail'));
    writeFileSync(join(d, 'sub', '.trail', 'x'), 'x\n');
    // A folder with a hostile name, holding hostile names; a symlink with a hostile target.
    const hdir = Buffer.from('dir\nwith\xffbytes', 'latin1');
    mkdirSync(bpath(d, hdir));
    for (const n of names.slice(0, 8)) writeFileSync(bpath(d, hdir, n), n);
    symlinkSync(Buffer.from('target\n\xff', 'latin1'), bpath(d, 'link\x1b'));
    // 200 levels deep.
    const deep = Array.from({ length: 200 }, () => 'd').join('/');
    mkdirSync(join(d, deep), { recursive: true });
    writeFileSync(join(d, deep, 'deep\nfile'), 'bottom\n');
    const original = walkDisk(d);

    const init = await trailOk(sb, ['init', d, '--name', 'w', '--json']);
    assert.deepEqual(init.json.skipped, []);
    // '.git~' and '.trail~' look like editor backups: ignored by default (so that the '~'
    // escape of reserved names can never collide with a real name).
    assert.equal(init.json.ignored, 2);
    assert.equal(init.json.files, names.length - 2 + 8 + 6);
    assertFsck(sb.repo);

    // What git holds, read by git itself.
    const view = commitView(sb.repo, OBSERVED);
    const tree = view.tree;
    for (const [i, n] of names.entries()) {
      const name = n.toString('latin1');
      if (name.endsWith('~')) continue;
      const inTree = /^(\.git|\.trail|git~1)~*$/i.test(name) ? name + '~' : name;
      const row = tree.get(inTree);
      assert.ok(row, `name ${JSON.stringify(n.toString('utf8'))} is not in the tree as ${JSON.stringify(inTree)}`);
      assert.equal(view.blob(inTree)?.toString(), `content ${i}\n`);
    }
    assert.equal(view.blob('.git~/config')?.toString(), '[core]\n\tbare = false\n');
    assert.equal(view.blob('.trail~/FORMAT')?.toString(), 'not trail\n');
    assert.match(view.blob('.trail/FORMAT')!.toString(), /^trail \d+\n$/, ".trail/FORMAT is trail's own");
    assert.equal(view.blob('sub/.git~/HEAD')?.toString(), 'ref: refs/heads/main\n');
    assert.equal(view.blob('sub/.trail/x')?.toString(), 'x\n');
    assert.equal(view.blob('sub/@meta/inner')?.toString(), 'inner\n');
    assert.equal(view.blob(`${deep}/deep\nfile`)?.toString(), 'bottom\n');
    assert.equal(view.blob('link\x1b')?.toString('latin1'), 'target\n\xff');
    assert.equal(tree.get('link\x1b')?.mode, '120000');
    assert.equal(
      view.blob(Buffer.concat([hdir, Buffer.from('/'), names[5]!]).toString('latin1'))?.toString('latin1'),
      '\xff\xfeA',
    );
    // The manifest of sub/@meta lives under an escaped name; a folder's manifest names the
    // hostile children exactly (percent-escaped, reversibly).
    assert.ok(view.manifest('sub/@meta~').some((m) => m.name === 'inner'));
    const top = view.manifest();
    assert.ok(top.some((m) => m.name === '@meta' && m.kind === 'file'));
    assert.ok(
      top.some((m) => m.name === 'percent%2541'),
      'percent sign escaped in the manifest',
    );
    assert.ok(top.some((m) => m.name === 'new%0Aline'));

    // Human output never carries the raw bytes of a name to the terminal.
    for (const [i, n] of names.entries()) if (!n.toString().endsWith('~')) writeFileSync(bpath(d, n), `changed ${i}\n`);
    for (const n of names.slice(0, 8)) rmSync(bpath(d, hdir, n));
    rmSync(bpath(d, 'link\x1b'));
    symlinkSync(Buffer.from('other\x1b[2J', 'latin1'), bpath(d, 'link\x1b'));
    const status = await trailOk(sb, ['status', '--name', 'w'], { codes: [3] });
    assertTerminalSafe(status.stdout, 'status');
    assertTerminalSafe(status.stderr, 'status (stderr)');
    assert.ok(status.stdout.toString().includes('new\\nline'), `status shows the newline escaped:\n${status.stdout}`);
    assert.ok(status.stdout.toString().includes('\\xff\\xfeA'), 'status shows bytes that are not UTF-8 escaped');
    for (const args of [
      ['diff'],
      ['snapshot', '-m', 'evil\x1b[2J names'],
      ['log'],
      ['show', 'observed'],
      ['log', 'link\x1b'],
      ['list'],
    ]) {
      const r = await trailOk(sb, [...args, '--name', 'w']);
      assertTerminalSafe(r.stdout, args.join(' '));
      assertTerminalSafe(r.stderr, `${args.join(' ')} (stderr)`);
    }
    const snap = await trailOk(sb, ['status', '--name', 'w', '--json']);
    assert.equal(snap.json.clean, true);
    assertFsck(sb.repo);

    // Wreck the tree, then revert to the first commit: every name comes back exactly.
    rmSync(join(d, 'd'), { recursive: true });
    rmSync(join(d, 'sub'), { recursive: true });
    writeFileSync(join(d, 'sub'), 'now a file\n');
    for (const n of names.slice(0, 6)) rmSync(bpath(d, n));
    writeFileSync(bpath(d, Buffer.from('new\nline2')), 'intruder\n');
    const rev = await trailOk(sb, ['revert', init.json.commit, '--name', 'w']);
    assertTerminalSafe(rev.stdout, 'revert');
    assertTerminalSafe(rev.stderr, 'revert (stderr)');
    assertSameDisk(walkDisk(d), original, 'after revert to the first commit');
    const after = await trailOk(sb, ['status', '--full', '--name', 'w', '--json']);
    assert.equal(after.json.clean, true, JSON.stringify(after.json.changes));
    assertFsck(sb.repo);
  } finally {
    sb.cleanup();
  }
});

test(
  'a 1 GiB sparse file is recorded by digest only; one at the limit is recorded whole',
  { timeout: 120_000 },
  async () => {
    const sb = sandbox();
    try {
      const big = join(sb.dir, 'huge.img');
      const limit = 128 * 1024 * 1024; // the default snapshot.maxFileSize
      const fd = openSync(big, 'w');
      ftruncateSync(fd, 1024 ** 3);
      writeSync(fd, Buffer.from('header'), 0, 6, 0);
      closeSync(fd);
      const edge = join(sb.dir, 'edge.img');
      const fd2 = openSync(edge, 'w');
      ftruncateSync(fd2, limit);
      writeSync(fd2, Buffer.from('tail'), 0, 4, limit - 4);
      closeSync(fd2);
      writeFileSync(join(sb.dir, 'small'), 'small\n');

      const init = await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json'], { timeoutMs: 110_000 });
      // (No fsck here: the one at the end checks every object, init's included, and each
      // fsck inflates and hashes the 128 MiB blob again.)
      const tree = lsTree(sb.repo, OBSERVED);
      assert.equal(tree.get('huge.img'), undefined, 'the 1 GiB file has no blob');
      const m = manifest(sb.repo, OBSERVED).find((e) => e.name === 'huge.img');
      assert.ok(m, 'huge.img is in the manifest');
      assert.equal(m.size, 1024 ** 3);
      assert.match(String(m.digest), /^(sha256:)?[0-9a-f]{64}$/);
      // The file at the limit is kept whole: git has exactly its bytes.
      const edgeRow = tree.get('edge.img');
      assert.ok(edgeRow, 'the file at the limit has a blob');
      assert.equal(edgeRow.oid, gitBlobId(readFileSync(edge)));
      // The user is told that huge.img's content is not kept.
      assert.deepEqual(init.json.digestOnly, ['huge.img'], 'init tells which file was kept by digest only');
      const human = await trailOk(sb, ['snapshot', '--name', 'w'], { env: { TRAIL_X: '1' } });
      assert.match(human.text, /nothing changed/);

      // A change that keeps size and mtime: only a full re-read can see it.
      const st = lstatSync(big);
      const fd3 = openSync(big, 'r+');
      writeSync(fd3, Buffer.from('X'), 0, 1, 512 * 1024 * 1024);
      closeSync(fd3);
      utimesSync(big, st.atime, st.mtime);
      const full = await trailOk(sb, ['status', '--full', '--name', 'w', '--json'], { codes: [3], timeoutMs: 110_000 });
      assert.deepEqual(
        full.json.changes.map((c: any) => c.path),
        ['huge.img'],
      );

      // A revert cannot bring back content that was never kept, and says so.
      const rev = await trail(sb, ['revert', init.json.commit, '--name', 'w', '--json'], { timeoutMs: 110_000 });
      assert.notEqual(rev.code, 0);
      assert.match(rev.json.plan.cannot.map((c: any) => `${c.path}: ${c.reason}`).join('\n'), /huge\.img: .*digest/);
      // A background repack (a snapshot that stores STORE_FROM bytes uncompressed starts one)
      // must not delete packs that fsck has listed.
      await repacksEnded(sb.repo);
      assertFsck(sb.repo);
    } finally {
      await repacksEnded(sb.base);
      sb.cleanup();
    }
  },
);

test('unreadable files: recorded as skipped with the reason, the rest recorded', { timeout: 60_000 }, async () => {
  const sb = sandbox();
  try {
    const nobody = { uid: 65534, gid: 65534 };
    writeFileSync(join(sb.dir, 'readable'), 'ok\n');
    writeFileSync(join(sb.dir, 'secret-ish'), 'you cannot read me\n');
    mkdirSync(join(sb.dir, 'closed'));
    writeFileSync(join(sb.dir, 'closed', 'inside'), 'hidden\n');
    mkdirSync(join(sb.dir, 'open'));
    writeFileSync(join(sb.dir, 'open', 'deeper'), 'deeper\n');
    mkdirSync(sb.home, { mode: 0o700 });
    for (const p of [
      sb.home,
      sb.dir,
      join(sb.dir, 'readable'),
      join(sb.dir, 'secret-ish'),
      join(sb.dir, 'closed'),
      join(sb.dir, 'closed', 'inside'),
      join(sb.dir, 'open'),
      join(sb.dir, 'open', 'deeper'),
    ]) {
      chownSync(p, nobody.uid, nobody.gid);
    }
    chmodSync(join(sb.dir, 'secret-ish'), 0o000);
    chmodSync(join(sb.dir, 'closed'), 0o000);
    // The test itself must really be denied as nobody (it is not, e.g., under a capability).
    const probe = spawnSync('setpriv', [
      '--reuid',
      '65534',
      '--regid',
      '65534',
      '--clear-groups',
      '--',
      'cat',
      join(sb.dir, 'secret-ish'),
    ]);
    assert.notEqual(probe.status, 0, 'nobody can read a 0000 file: this test cannot check anything here');

    const init = await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json'], { user: nobody });
    const skipped = new Map<string, string>(init.json.skipped.map((s: any) => [s.path, s.reason]));
    assert.match(skipped.get('secret-ish') ?? '', /permission denied/i);
    assert.match(skipped.get('closed') ?? '', /permission denied/i);
    assert.equal(skipped.size, 2, JSON.stringify(init.json.skipped));
    // The rest is there, in git.
    const view = commitView(sb.repo, OBSERVED);
    assert.equal(view.blob('readable')?.toString(), 'ok\n');
    assert.equal(view.blob('open/deeper')?.toString(), 'deeper\n');
    assert.equal(view.blob('secret-ish'), undefined);
    const m = view.manifest();
    assert.match(m.find((e) => e.name === 'secret-ish')?.skipped ?? '', /permission denied/);
    assert.equal(m.find((e) => e.name === 'secret-ish')?.mode, '0000');
    assertFsck(sb.repo);
    // Human output says it too; a second pass changes nothing but still says it.
    const again = await trailOk(sb, ['snapshot', '--name', 'w'], { user: nobody });
    assert.match(again.text, /nothing changed/);
    assert.match(again.stderr.toString(), /skipped secret-ish: .*permission denied/);
    // Once readable, the file is recorded.
    chmodSync(join(sb.dir, 'secret-ish'), 0o600);
    await trailOk(sb, ['snapshot', '--name', 'w'], { user: nobody });
    assert.equal(blobAt(sb.repo, OBSERVED, 'secret-ish')?.toString(), 'you cannot read me\n');
    assertFsck(sb.repo);
  } finally {
    sb.cleanup();
  }
});

test(
  'a file rewritten while it is read: one real version is recorded, or it is skipped',
  { timeout: 120_000 },
  async (t) => {
    const sb = sandbox();
    const writers: ReturnType<typeof spawn>[] = [];
    try {
      const SIZE = 8 * 1024 * 1024; // reading it takes a while; the writer changes both ends
      const inPlace = join(sb.dir, 'inplace.log');
      const appended = join(sb.dir, 'append.log');
      writeFileSync(inPlace, Buffer.alloc(SIZE, 'v000000000\n'));
      writeFileSync(appended, '');
      for (let i = 0; i < 50; i++) writeFileSync(join(sb.dir, `f${i}`), `file ${i}\n`);
      await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json']);

      // Writer 1 rewrites the same inode in place, version after version, chunk by chunk.
      // Writer 2 appends whole 10-byte records with one write each.
      const script = `
      const fs = require('fs');
      const [file, mode] = process.argv.slice(1);
      const fd = fs.openSync(file, 'r+');
      let v = 1;
      const SIZE = ${SIZE};
      for (;;) {
        if (mode === 'inplace') {
          // Version v goes first to the head, then to the tail: at any instant the head
          // holds the same version as the tail or the next one.
          const rec = Buffer.from('v' + String(v).padStart(9, '0') + '\\n');
          fs.writeSync(fd, rec, 0, 11, 0);
          fs.writeSync(fd, rec, 0, 11, SIZE - 11);
        } else {
          fs.writeSync(fd, Buffer.from(String(v).padStart(9, '0') + '\\n'), 0, 10, null);
        }
        v++;
        // Quiet moments for the in-place file; the appender leaves the CPU to the others.
        if (mode === 'inplace' ? v % 5000 === 0 : true) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, mode === 'inplace' ? 10 : 1);
      }`;
      for (const [file, mode] of [
        [inPlace, 'inplace'],
        [appended, 'append'],
      ] as const) {
        const w = spawn(process.execPath, ['-e', script, file, mode], { stdio: 'ignore' });
        writers.push(w);
      }
      await until(() => lstatSync(appended).size > 1000, 30_000, 'the writers to start');
      // The writers run only while a snapshot runs: stopped while the test reads what it
      // recorded, they burned a core for nothing (half of this test's CPU). Every snapshot
      // still reads the files under the same writers as before.
      const writing = (on: boolean) => {
        for (const w of writers) w.kill(on ? 'SIGCONT' : 'SIGSTOP');
      };
      writing(false);

      // Each busy snapshot repeats the same check on another interleaving: three by default,
      // more in a soak run (TRAIL_FAULT_ROUNDS, see faultRounds); six cost ~4 s of CPU.
      const rounds = faultRounds(3);
      let recordedInPlace = 0;
      for (let round = 0; round < rounds; round++) {
        writing(true);
        const r = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
        writing(false);
        const skipped = new Map<string, string>(r.json.skipped.map((s: any) => [s.path, s.reason]));
        const view = commitView(sb.repo, OBSERVED);
        const tree = view.tree;
        // In place: every 11-byte record of the recorded content is the same version.
        const ip = tree.get('inplace.log');
        if (skipped.has('inplace.log')) assert.match(skipped.get('inplace.log')!, /chang/);
        else if (ip && r.json.changes.some((c: any) => c.path === 'inplace.log')) {
          const data = view.blob('inplace.log')!.toString();
          assert.equal(data.length, SIZE);
          // A read that the writer overtook has a tail newer than its head.
          const head = Number(data.slice(1, 10));
          const tail = Number(data.slice(SIZE - 10, SIZE - 1));
          assert.ok(head === tail || head === tail + 1, `torn read: head holds version ${head}, tail ${tail}`);
          recordedInPlace++;
        }
        // Appended: whole records, numbered 1..n without a gap.
        const ap = tree.get('append.log');
        if (skipped.has('append.log')) assert.match(skipped.get('append.log')!, /chang/);
        else if (ap) {
          const data = view.blob('append.log')!.toString();
          assert.equal(data.length % 10, 0, 'a half record was recorded');
          const nums = data.split('\n').filter(Boolean).map(Number);
          nums.forEach((n, i) => assert.equal(n, i + 1, 'records out of order or missing'));
        }
        // The other files are recorded whatever happens to the busy ones.
        assert.equal(view.blob('f49')?.toString(), 'file 49\n');
      }
      t.diagnostic(`in-place file recorded in ${recordedInPlace} of ${rounds} busy snapshots, skipped in the others`);
      for (const w of writers) w.kill('SIGKILL');
      await Promise.all(
        writers.map(
          (w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once('exit', r))),
        ),
      );
      // Quiet now: the next snapshot records the final versions exactly.
      await trailOk(sb, ['snapshot', '--name', 'w']);
      const quiet = commitView(sb.repo, OBSERVED);
      assert.equal(quiet.blob('inplace.log')?.toString(), readFileSync(inPlace).toString());
      assert.equal(quiet.blob('append.log')?.toString(), readFileSync(appended).toString());
      // A background repack (a snapshot that stores STORE_FROM bytes uncompressed starts one)
      // must not delete packs that fsck has listed.
      await repacksEnded(sb.repo);
      assertFsck(sb.repo);
    } finally {
      for (const w of writers) w.kill('SIGKILL');
      await repacksEnded(sb.base);
      sb.cleanup();
    }
  },
);

test('a folder replaced by a file and back: recorded each time, reverted either way', { timeout: 60_000 }, async () => {
  const sb = sandbox();
  try {
    const a = join(sb.dir, 'a');
    mkdirSync(join(a, 'b'), { recursive: true });
    writeFileSync(join(a, 'b', 'c'), 'c\n');
    writeFileSync(join(a, 'x'), 'x\n');
    const asDir = walkDisk(sb.dir);
    const c1 = (await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json'])).json.commit as string;

    rmSync(a, { recursive: true });
    writeFileSync(a, 'now a file\n');
    chmodSync(a, 0o640);
    const asFile = walkDisk(sb.dir);
    const s2 = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
    const c2 = s2.json.commit as string;
    const v2 = commitView(sb.repo, c2);
    assert.equal(v2.tree.get('a')?.type, 'blob');
    assert.equal(v2.tree.get('a/x'), undefined);
    assert.equal(v2.manifest().find((m) => m.name === 'a')?.kind, 'file');
    assert.ok(!v2.tree.has('.trail/meta/a/@meta'), 'no manifest left for the old folder');

    rmSync(a);
    mkdirSync(a);
    writeFileSync(join(a, 'y'), 'y\n');
    const s3 = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
    const v3 = commitView(sb.repo, s3.json.commit);
    assert.equal(v3.tree.get('a')?.type, 'tree');
    assert.equal(v3.blob('a/y')?.toString(), 'y\n');
    assert.equal((await trailOk(sb, ['status', '--full', '--name', 'w', '--json'])).json.clean, true);

    await trailOk(sb, ['revert', c2, '--name', 'w']);
    assertSameDisk(walkDisk(sb.dir), asFile, 'reverted to the file');
    await trailOk(sb, ['revert', c1, '--name', 'w']);
    assertSameDisk(walkDisk(sb.dir), asDir, 'reverted to the folder');
    assert.equal((await trailOk(sb, ['status', '--full', '--name', 'w', '--json'])).json.clean, true);
    assertFsck(sb.repo);
  } finally {
    sb.cleanup();
  }
});

test('symlink loops, a link to / and one to a folder outside: never followed', { timeout: 60_000 }, async () => {
  const sb = sandbox();
  try {
    const outside = join(sb.base, 'outside');
    mkdirSync(outside);
    const outsideContent = Buffer.from(`outside content ${Math.random()}\n`);
    writeFileSync(join(outside, 'private'), outsideContent);
    symlinkSync('b', join(sb.dir, 'a'));
    symlinkSync('a', join(sb.dir, 'b'));
    symlinkSync('self', join(sb.dir, 'self'));
    symlinkSync('/', join(sb.dir, 'root'));
    symlinkSync(outside, join(sb.dir, 'out'));
    mkdirSync(join(sb.dir, 'sub'));
    writeFileSync(join(sb.dir, 'sub', 'file'), 'sub\n');
    const original = walkDisk(sb.dir);

    const init = await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json']);
    assert.deepEqual(init.json.skipped, []);
    const view = commitView(sb.repo, OBSERVED);
    const tree = view.tree;
    const expect = { a: 'b', b: 'a', self: 'self', root: '/', out: outside };
    for (const [name, target] of Object.entries(expect)) {
      assert.equal(tree.get(name)?.mode, '120000', `${name} is a symlink in git`);
      assert.equal(view.blob(name)?.toString(), target);
    }
    const contentPaths = [...tree.keys()].filter((p) => p !== '.trail' && !p.startsWith('.trail/'));
    assert.deepEqual(contentPaths.sort(), ['a', 'b', 'out', 'root', 'self', 'sub', 'sub/file']);
    assert.equal(objectExists(sb.repo, gitBlobId(outsideContent)), false, 'content outside the tree was read');
    assertFsck(sb.repo);

    // A folder swapped for a symlink to the outside: the revert writes into the real
    // folder it recreates, never through the link.
    rmSync(join(sb.dir, 'sub'), { recursive: true });
    symlinkSync(outside, join(sb.dir, 'sub'));
    rmSync(join(sb.dir, 'a'));
    symlinkSync('elsewhere', join(sb.dir, 'a'));
    await trailOk(sb, ['revert', init.json.commit, '--name', 'w']);
    assertSameDisk(walkDisk(sb.dir), original, 'after revert');
    assert.deepEqual(walkDisk(outside).size, 2, 'nothing was written outside');
    assert.equal(readFileSync(join(outside, 'private')).toString(), outsideContent.toString());
    assert.equal(readlinkSync(join(sb.dir, 'a')), 'b');
    assert.equal((await trailOk(sb, ['status', '--full', '--name', 'w', '--json'])).json.clean, true);
    assertFsck(sb.repo);
  } finally {
    sb.cleanup();
  }
});

void revParse;
