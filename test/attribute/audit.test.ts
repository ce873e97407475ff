// trail watch with real Linux audit: real users, real login uids, real sudo, a real apt
// transaction; the trail read back with git itself. Waits poll with generous limits (the
// machine is shared): nothing here asserts how fast anything is.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { run } from '../../src/util/exec.js';
import { APT_HOOK_LOCK, holdHostLock } from '../support/host-lock.js';
import {
  asLogin,
  asLoginSudo,
  BIN,
  auditdFor,
  auditReady,
  holdAuditd,
  auditRecordsFlow,
  auditdPid,
  ensureUser,
  Fixture,
  waitFor,
  Watch,
} from './helpers.js';

const why = await auditReady();
const SUDOERS = '/etc/sudoers.d/trail-test-alice';
let f: Fixture;
let watch: Watch;
let bobUid = 0;

before(async () => {
  if (why) return;
  bobUid = ensureUser('bob');
  ensureUser('alice');
  writeFileSync(SUDOERS, 'alice ALL=(ALL) NOPASSWD: ALL\n', { mode: 0o440 });
  f = new Fixture('attr');
  writeFileSync(join(f.work, 'fsociety00.dat'), 'leave me here\n', { mode: 0o644 });
  await f.init();
  await f.trail(['--name', f.name, 'config', 'set', 'access.paths', 'fsociety00.dat']);
  // The daemon's audit feed starts under the shared lock, as each test runs: started while
  // another file's test had killed auditd (seen in a soak run), it began without attribution
  // and the tests after it found "unknown" for a reason not theirs.
  const release = await holdAuditd('shared');
  try {
    watch = new Watch(f);
    await watch.started();
  } finally {
    release();
  }
});

after(async () => {
  if (why) return;
  await watch?.stop();
  rmSync(SUDOERS, { force: true });
  f?.cleanup();
});

const opts = { skip: why ? `real audit is not available: ${why}` : false };

/** A test of attribution, run only while the host's audit records reach auditd's log (checked
 * by the test's own rule, without trail): where auditd has stopped writing, say on a disk
 * below its admin_space_left, the test says so and why instead of blaming trail. */
function auditTest(
  name: string,
  fn: (t: TestContext) => Promise<void>,
  auditd: 'shared' | 'exclusive' = 'shared',
): void {
  test(name, opts, async (t) => {
    await auditdFor(t, auditd);
    const down = await auditRecordsFlow();
    if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
    await fn(t);
  });
}

/** One that stops auditd or starves the kernel backlog: no other file's audit test runs then. */
function disruptiveAuditTest(name: string, fn: (t: TestContext) => Promise<void>): void {
  auditTest(name, fn, 'exclusive');
}

async function commitOf(path: string) {
  let c: Awaited<ReturnType<Fixture['commitOf']>>;
  await waitFor(
    `a commit of ${path}`,
    async () => !!(c = await f.commitOf(path)),
    90_000,
    () => watch.stderr + watch.stdout.slice(-2000),
  );
  return c!;
}

/** After auditd was down: records lost meanwhile (anyone's, counted by the kernel) make the
 * next window unknown, rightly; one window passes before a test expects a name again. */
let settles = 0;
async function settleAfterRestart(): Promise<void> {
  const name = `settle-${++settles}.conf`;
  writeFileSync(join(f.work, name), 'settle\n');
  await commitOf(name);
}

const trailer = (body: string, key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(body)?.[1];

auditTest('a direct write by bob is authored by bob, with his uid and the process', async () => {
  const file = join(f.work, 'bob.conf');
  await asLogin('bob', ['sh', '-c', 'echo "listen 80" > "$1"', 'sh', file]);
  const c = await commitOf('bob.conf');
  assert.equal(c.author, 'bob', c.body);
  assert.equal(trailer(c.body, 'Trail-Uid'), String(bobUid));
  assert.match(trailer(c.body, 'Trail-Login')!, /^bob \(auid \d+\)$/);
  assert.equal(trailer(c.body, 'Trail-Exe'), '/usr/bin/dash');
  assert.match(trailer(c.body, 'Trail-Argv')!, /echo "listen 80"/);
  assert.ok(trailer(c.body, 'Trail-Pid'));
  assert.ok(trailer(c.body, 'Trail-Session'));
});

// A snapshot asked for while bob's change is still in the quiet window: the daemon commits it,
// and audit, not the asker, names its author. Asking (as root, with a forged SUDO_USER) must
// not make the asker the author of someone else's change.
auditTest("a snapshot asked for over the socket names the change's author from audit, not the asker", async () => {
  const set = async (k: string, v: string) =>
    assert.equal((await f.trail(['--name', f.name, 'config', 'set', k, v])).code, 0);
  // The window held open (the daemon reloads at once), so the snapshot finds bob's change pending.
  await set('watch.quietMs', '600000');
  await set('watch.maxDelayMs', '600000');
  try {
    const file = join(f.work, 'laundered.conf');
    await asLogin('bob', ['sh', '-c', 'echo "PermitRootLogin yes" > "$1"', 'sh', file]);
    // The daemon has heard of it (its status names it), and has not committed it.
    await waitFor('the change pending in the window', async () => {
      const st = JSON.parse((await f.trail(['--name', f.name, 'status', '--json'], [0, 3])).stdout.toString()) as {
        changes: { path: string }[];
        answeredBy: unknown;
      };
      return typeof st.answeredBy === 'object' && st.changes.some((c) => c.path === 'laundered.conf');
    });
    const snap = await run(process.execPath, [BIN, '--name', f.name, 'snapshot', '-m', 'routine', '--json'], {
      env: { ...f.env, SUDO_USER: 'alice' },
    });
    const j = JSON.parse(snap.stdout.toString()) as { commit: string; answeredBy: unknown };
    assert.equal(typeof j.answeredBy, 'object', 'the daemon answered');
    const [author, body] = (await f.git(['show', '-s', '--format=%an%x1f%B', j.commit])).stdout
      .toString()
      .split('\x1f');
    const c = { author: author!, body: body! };
    const paths = (await f.git(['show', '--format=', '--name-only', j.commit])).stdout.toString();
    assert.match(paths, /^laundered\.conf$/m, 'the snapshot recorded the change');
    assert.equal(c.author, 'bob', c.body);
    assert.match(c.body, /^routine$/m, "the asker's message is the subject");
    assert.equal(trailer(c.body, 'Trail-Snapshot-By'), 'alice');
    assert.equal(trailer(c.body, 'Trail-Action'), 'snapshot');
    assert.equal(trailer(c.body, 'Trail-Uid'), String(bobUid));
  } finally {
    await set('watch.quietMs', '100');
    await set('watch.maxDelayMs', '1000');
  }
});

// trail revert finds bob's change still in the quiet window: trail watch records it first, in
// bob's name from audit, where the revert's own look could only have said "unknown".
auditTest('a revert has the changes it finds pending recorded by the daemon, authors from audit', async () => {
  const set = async (k: string, v: string) =>
    assert.equal((await f.trail(['--name', f.name, 'config', 'set', k, v])).code, 0);
  writeFileSync(join(f.work, 'revert-target.conf'), 'v1\n');
  await commitOf('revert-target.conf');
  await set('watch.quietMs', '600000');
  await set('watch.maxDelayMs', '600000');
  try {
    writeFileSync(join(f.work, 'revert-target.conf'), 'v2 (to be reverted)\n');
    const file = join(f.work, 'pending-at-revert.conf');
    await asLogin('bob', ['sh', '-c', 'echo "AllowUsers bob" > "$1"', 'sh', file]);
    await waitFor('the changes pending in the window', async () => {
      const st = JSON.parse((await f.trail(['--name', f.name, 'status', '--json'], [0, 3])).stdout.toString()) as {
        changes: { path: string }[];
      };
      return st.changes.some((c) => c.path === 'pending-at-revert.conf');
    });
    const target = (await f.git(['rev-parse', 'refs/heads/observed'])).stdout.toString().trim();
    const r = await f.trail(['--name', f.name, 'revert', target, 'revert-target.conf', '--json']);
    const j = JSON.parse(r.stdout.toString()) as { before: string };
    assert.match(r.stdout.toString(), /"before": "[0-9a-f]{40}"/);
    const log = (
      await f.git([
        'log',
        '--format=%H%x1f%an%x1f%s%x1f%(trailers:key=Trail-Snapshot-By,valueonly)',
        `${target}..refs/heads/observed`,
        '--',
        'pending-at-revert.conf',
      ])
    ).stdout
      .toString()
      .trim();
    const [id, author, subject, by] = log.split('\x1f');
    assert.equal(author, 'bob', log);
    assert.equal(subject, 'changes found before a revert');
    assert.ok(by!.trim().length > 0, 'who asked is named');
    // One commit per person: bob's, and the root's of revert-target.conf; `before` is the last.
    const made = (await f.git(['rev-list', `${target}..${j.before}`])).stdout.toString().split('\n');
    assert.ok(made.includes(id!), `${id} is among the commits made before the revert`);
    assert.equal(readFileSync(join(f.work, 'revert-target.conf'), 'utf8'), 'v1\n', 'and the revert was made');
  } finally {
    await set('watch.quietMs', '100');
    await set('watch.maxDelayMs', '1000');
  }
});

// A rogue root cannot pass his change off as alice's by writing her uid over his login uid
// (the kernel allows root that unless loginuid_immutable is set): the commit names no one
// and says why, both for a login uid replaced at once and for one cleared then set anew by a
// child. The rewriting shell is a fixed script; uids and paths come in as arguments.
const REWRITE =
  'echo "$1" > /proc/self/loginuid || exit 97; echo "$2" > /proc/self/loginuid || exit 98; shift 2; exec "$@"';
const CLEAR_THEN_SET =
  'echo "$1" > /proc/self/loginuid || exit 97; echo 4294967295 > /proc/self/loginuid || exit 98; u=$2; shift 2; sh -c \'echo "$1" > /proc/self/loginuid && shift && exec "$@"\' sh "$u" "$@"';
auditTest("root rewriting his login uid to alice's is not credited to alice: unknown, and why", async () => {
  const aliceUid = ensureUser('alice');
  for (const [script, file] of [
    [REWRITE, 'posing.conf'],
    [CLEAR_THEN_SET, 'posing2.conf'],
  ] as const) {
    await run('sh', [
      '-c',
      script,
      'rewrite',
      '0',
      String(aliceUid),
      'sh',
      '-c',
      'echo rogue > "$1"',
      'sh',
      join(f.work, file),
    ]);
    const c = await commitOf(file);
    assert.equal(c.author, 'unknown', c.body);
    assert.match(trailer(c.body, 'Trail-Actor')!, /login uid rewritten: .*alice \(auid \d+\).*root \(auid 0\)/);
  }
  assert.match(watch.stdout, /"event":"audit-login"/);
});

// A hard link made outside the tree while trail watches: making it tells no folder watch
// (only the inode's own watchers), and writes through it reach none either. Audit names the
// link at once: the file is then watched on its own, and a write through the link recorded.
auditTest(
  'a hard link made outside the tree while trail watches: audit names it, and writes through it are recorded',
  async () => {
    writeFileSync(join(f.work, 'linked.conf'), 'v1\n');
    await commitOf('linked.conf');
    const outside = join(f.base, 'linked.outside');
    linkSync(join(f.work, 'linked.conf'), outside);
    await waitFor(
      'the link heard of',
      () => /"event":"outside-link","msg":"[^"]*linked\.conf has a hard link/.test(watch.stdout),
      90_000,
      () => watch.stdout.slice(-2000),
    );
    writeFileSync(outside, 'v2 through the link\n', { flag: 'r+' });
    await waitFor('the write through the link recorded', async () =>
      /through the link/.test((await f.git(['show', 'refs/heads/observed:linked.conf'])).stdout.toString()),
    );
  },
);

// A write through a shared mapping makes no inotify event at all, not even on the file: only
// audit's record of the open for writing says the file may change, for as long as the
// process lives. trail watch follows that writer: while it lives a status the watcher answers
// looks at the file, and the change is recorded (while it lives, and once more when it is gone).
const MMAP_WRITE = `
import mmap, sys, time
with open(sys.argv[1], 'r+b') as f:
    m = mmap.mmap(f.fileno(), 0)
m[0:4] = b'EVIL'
m.flush()
print('written', flush=True)
time.sleep(float(sys.argv[2]))
`;
auditTest(
  'a write through mmap, which inotify never reports: the writer is followed, status sees it, the change is recorded',
  async () => {
    writeFileSync(join(f.work, 'mapped.conf'), 'good line\n');
    await commitOf('mapped.conf');
    const writer = spawn('python3', ['-c', MMAP_WRITE, join(f.work, 'mapped.conf'), '30'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout!.once('data', () => resolve());
        writer.once('exit', (code) => reject(new Error(`the mmap writer exited ${code}`)));
      });
      // While the writer lives, a status the watcher answers is as true as a scan.
      await waitFor('a status that sees the mapped write', async () => {
        const r = await f.trail(['--name', f.name, 'status', '--json'], [0, 3]);
        return r.code === 3 && /mapped\.conf/.test(r.stdout.toString());
      });
      await waitFor('the mapped write recorded', async () =>
        /^EVIL/.test((await f.git(['show', 'refs/heads/observed:mapped.conf'])).stdout.toString()),
      );
    } finally {
      writer.kill();
    }
  },
);

auditTest('sudo to root by alice: author alice, uid root', async () => {
  await asLoginSudo('alice', ['sh', '-c', 'echo on > "$1"', 'sh', join(f.work, 'by-sudo.conf')]);
  const c = await commitOf('by-sudo.conf');
  assert.equal(c.author, 'alice', c.body);
  assert.equal(trailer(c.body, 'Trail-Uid'), '0');
});

auditTest(
  "a vim-style save (backup rename, new file, delete backup) is bob's, relative paths resolved against the CWD",
  async () => {
    await asLogin('bob', ['sh', '-c', 'echo v1 > app.conf'], { cwd: f.work });
    await commitOf('app.conf');
    await asLogin(
      'bob',
      ['sh', '-c', ': > 4913 && rm 4913 && mv app.conf app.conf~ && echo v2 > app.conf && rm app.conf~'],
      { cwd: f.work },
    );
    await waitFor(
      'the save to be recorded',
      async () => (await f.git(['show', 'refs/heads/observed:app.conf'])).stdout.toString() === 'v2\n',
    );
    const c = (await f.commitOf('app.conf'))!;
    assert.equal(c.author, 'bob', c.body);
    assert.deepEqual(c.paths, ['app.conf']);
  },
);

auditTest("a script run by alice is alice's, and the argv shows the script", async () => {
  const script = join(f.base, 'deploy.sh');
  writeFileSync(
    script,
    '#!/bin/sh\nset -e\necho "deployed" > "$1/release.conf"\ncp "$1/release.conf" "$1/release.bak.conf"\n',
  );
  chmodSync(script, 0o755);
  await asLogin('alice', [script, f.work]);
  const c = await commitOf('release.bak.conf');
  assert.equal(c.author, 'alice', c.body);
  assert.ok(c.paths.includes('release.conf'));
  assert.ok(c.body.includes(script), c.body);
});

auditTest('a password on a command line reaches no pushable object, only the local argv store', async () => {
  const secret = 'Hunter2-' + Math.random().toString(36).slice(2);
  await asLogin('bob', [
    'sh',
    '-c',
    'echo data > "$1"',
    'sh',
    join(f.work, 'db.conf'),
    `--password=${secret}`,
    `API_TOKEN=${secret}`,
  ]);
  const c = await commitOf('db.conf');
  assert.equal(c.author, 'bob', c.body);
  assert.match(c.body, /--password=\*\*\*/);
  // Every object reachable from any ref but the local-only secrets ref, read by git itself.
  const refs = (await f.git(['for-each-ref', '--format=%(refname)'])).stdout
    .toString()
    .split('\n')
    .filter((r) => r && r !== 'refs/trail/secrets');
  const objs = (await f.git(['rev-list', '--objects', ...refs])).stdout
    .toString()
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
  assert.ok(objs.length > 10);
  const all = await run('git', ['--git-dir', f.gitDir, 'cat-file', '--batch'], { input: objs.join('\n') + '\n' });
  assert.equal(all.stdout.includes(Buffer.from(secret)), false, 'the password is in a pushable object');
  assert.ok(all.stdout.includes(Buffer.from('--password=***')));
  // The full command line is kept on the host.
  assert.ok(readFileSync(join(f.gitDir, 'trail', 'argv.jsonl'), 'latin1').includes(secret));
});

auditTest('two users writing different files in the same 100 ms: two commits, each right', async () => {
  await Promise.all([
    asLogin('bob', ['sh', '-c', 'echo b > "$1"', 'sh', join(f.work, 'pair-bob.conf')]),
    asLogin('alice', ['sh', '-c', 'echo a > "$1"', 'sh', join(f.work, 'pair-alice.conf')]),
  ]);
  const b = await commitOf('pair-bob.conf');
  const a = await commitOf('pair-alice.conf');
  assert.equal(b.author, 'bob', b.body);
  assert.equal(a.author, 'alice', a.body);
  assert.notEqual(a.id, b.id);
  assert.ok(!b.paths.includes('pair-alice.conf'));
  assert.ok(!a.paths.includes('pair-bob.conf'));
});

auditTest('apt-get install of a .deb by alice: one commit listing the package, authored by alice', async (t) => {
  const pkg = join(f.base, 'pkg');
  const target = join(f.work, 'pkgdir');
  mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
  mkdirSync(join(pkg, target.slice(1)), { recursive: true });
  writeFileSync(
    join(pkg, 'DEBIAN', 'control'),
    'Package: trail-test-pkg\nVersion: 1.0-1\nArchitecture: all\nMaintainer: trail tests <t@example.org>\nDescription: trail test package\n',
  );
  for (let i = 0; i < 5; i++) writeFileSync(join(pkg, target.slice(1), `file${i}.conf`), `setting ${i}\n`);
  writeFileSync(join(pkg, 'DEBIAN', 'conffiles'), `${target}/file0.conf\n`);
  const deb = join(f.base, 'trail-test-pkg_1.0-1_all.deb');
  await run('dpkg-deb', ['--build', '--root-owner-group', pkg, deb]);
  // The host's one apt hook file: test/packaging/deb.test.ts installs its own there.
  const releaseHook = await holdHostLock(APT_HOOK_LOCK, 'exclusive');
  await f.trail(['hooks', 'install']);
  // apt waits for the dpkg lock (test/packaging/deb.test.ts may hold it) instead of failing.
  const aptGet = ['apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300'];
  t.after(async () => {
    try {
      await f.trail(['hooks', 'uninstall']);
    } finally {
      releaseHook();
    }
    // 100: apt knows no such package (it was never installed).
    await run('env', ['DEBIAN_FRONTEND=noninteractive', ...aptGet, 'purge', 'trail-test-pkg'], { okCodes: [0, 100] });
  });
  await asLoginSudo('alice', ['env', 'DEBIAN_FRONTEND=noninteractive', ...aptGet, 'install', deb]);
  const c = await commitOf('pkgdir/file4.conf');
  assert.equal(c.author, 'alice', c.body);
  for (let i = 0; i < 5; i++) assert.ok(c.paths.includes(`pkgdir/file${i}.conf`), c.paths.join(' '));
  assert.match(trailer(c.body, 'Trail-Packages') ?? '', /trail-test-pkg 1\.0-1/, c.body);
  assert.match(c.body.split('\n')[0]!, /^apt install trail-test-pkg/);

  // trail pkg verify: what differs from what the package shipped, by dpkg's own records.
  const clean = await f.trail(['pkg', 'verify', target, '--json']);
  assert.deepEqual(JSON.parse(clean.stdout.toString()).findings, []);
  writeFileSync(join(target, 'file0.conf'), 'edited by hand\n');
  rmSync(join(target, 'file3.conf'));
  const dirty = await f.trail(['pkg', 'verify', target, '--json'], [3]);
  const r = JSON.parse(dirty.stdout.toString()) as {
    checked: number;
    findings: { path: string; kind: string; state: string; package: string }[];
  };
  assert.equal(r.checked, 5);
  assert.deepEqual(r.findings, [
    { path: `${target}/file0.conf`, package: 'trail-test-pkg', kind: 'conffile', state: 'modified' },
    { path: `${target}/file3.conf`, package: 'trail-test-pkg', kind: 'file', state: 'missing' },
  ]);
});

auditTest('trail doctor sees audit, auditd and the rules trail watch added', async () => {
  const r = JSON.parse((await f.trail(['doctor', '--json'])).stdout.toString()) as {
    audit: { available: boolean; auditdPid: number; trailRules: string[] };
    attribution: { degraded: boolean };
  };
  assert.equal(r.audit.available, true);
  assert.ok(r.audit.auditdPid > 0);
  assert.ok(r.audit.trailRules.includes(`-w ${f.work} -p wa -k trail-${f.name}`), r.audit.trailRules.join('\n'));
  assert.ok(
    r.audit.trailRules.includes(`-w ${join(f.work, 'fsociety00.dat')} -p r -k trail-access-${f.name}`),
    r.audit.trailRules.join('\n'),
  );
  assert.equal(r.attribution.degraded, false, JSON.stringify(r.attribution));
});

auditTest(
  'access trail: a read of a planted file is recorded with who read it, and makes no content commit',
  async () => {
    await asLogin('bob', ['cat', join(f.work, 'fsociety00.dat')]);
    let reads: { path: string; login?: string; uid: number; argv?: string }[] = [];
    await waitFor('the read on refs/trail/access', async () => {
      reads = (
        JSON.parse((await f.trail(['--name', f.name, 'access', 'fsociety00.dat', '--json'])).stdout.toString()) as {
          reads: typeof reads;
        }
      ).reads;
      return reads.some((r) => r.login === 'bob');
    });
    const r = reads.find((x) => x.login === 'bob')!;
    assert.equal(r.path, 'fsociety00.dat');
    assert.equal(r.uid, bobUid);
    assert.match(r.argv ?? '', /^cat /);
    assert.equal(
      (await f.commits()).some((c) => c.paths.includes('fsociety00.dat')),
      false,
    );
  },
);

disruptiveAuditTest(
  'records lost in a burst (a kernel backlog of 1): changes say unknown, never a wrong name',
  async (t) => {
    const status = () =>
      new Map(
        spawnSync('auditctl', ['-s'], { encoding: 'utf8' })
          .stdout.split('\n')
          .map((l) => l.trim().split(' '))
          .filter((x) => x.length === 2)
          .map(([k, v]) => [k!, Number(v)]),
      );
    const before = status();
    t.after(() => {
      spawnSync('auditctl', [
        '-b',
        String(before.get('backlog_limit')),
        '--backlog_wait_time',
        String(before.get('backlog_wait_time')),
      ]);
    });
    assert.equal(spawnSync('auditctl', ['-b', '1', '--backlog_wait_time', '0']).status, 0);
    // Both write their own files and the same shared ones, each write naming its writer.
    const loop =
      'i=0; while [ $i -lt 150 ]; do echo "$2 $i" > "$1/burst-$2-$i"; echo "$2 $i" > "$1/burst-shared-$((i % 20))"; i=$((i+1)); done';
    await Promise.all(['bob', 'alice'].map((u) => asLogin(u, ['sh', '-c', loop, 'sh', f.work, u])));
    spawnSync('auditctl', [
      '-b',
      String(before.get('backlog_limit')),
      '--backlog_wait_time',
      String(before.get('backlog_wait_time')),
    ]);
    const lost = (status().get('lost') ?? 0) - (before.get('lost') ?? 0);
    assert.ok(lost > 0, 'the kernel lost no record: this test needs it to');
    await waitFor('every burst file in the trail', async () => {
      const tree = (await f.git(['ls-tree', '--name-only', 'refs/heads/observed'])).stdout.toString().split('\n');
      return (
        tree.filter((p) => p.startsWith('burst-bob-') || p.startsWith('burst-alice-')).length === 300 &&
        (await f.git(['show', 'refs/heads/observed:burst-shared-19'])).stdout.toString() ===
          readFileSync(join(f.work, 'burst-shared-19'), 'utf8')
      );
    });
    // Every version of every burst file in the trail: its author names its writer, or nobody.
    const checks: { commit: string; path: string; author: string }[] = [];
    for (const c of await f.commits())
      for (const p of c.paths) if (p.startsWith('burst-')) checks.push({ commit: c.id, path: p, author: c.author });
    const blobs = (
      await run('git', ['--git-dir', f.gitDir, 'cat-file', '--batch'], {
        input: checks.map((x) => `${x.commit}:${x.path}`).join('\n') + '\n',
      })
    ).stdout.toString();
    const contents = [...blobs.matchAll(/^[0-9a-f]{40} blob \d+\n(\S+) \d+\n/gm)].map((m) => m[1]);
    assert.equal(contents.length, checks.length);
    let unknown = 0;
    checks.forEach((x, i) => {
      if (x.author === 'unknown') return void unknown++;
      assert.ok(
        x.author.split(', ').includes(contents[i]!),
        `${x.path} in ${x.commit.slice(0, 12)} written by ${contents[i]} but authored ${x.author}`,
      );
    });
    assert.ok(unknown > 0, `${lost} records lost yet no change says unknown`);
  },
);

auditTest(
  "trail's audit rule removed by someone else: no wrong name meanwhile, the rule comes back, the next change is named",
  async () => {
    const dirRule = ['-w', f.work, '-p', 'wa', '-k', `trail-${f.name}`];
    assert.equal(spawnSync('auditctl', ['-W', ...dirRule.slice(1)]).status, 0);
    await asLogin('bob', ['sh', '-c', 'echo 1 > "$1"', 'sh', join(f.work, 'rule-gone.conf')]);
    // Unknown, or bob when a window put the rule back before his write: never anyone else.
    const c = await commitOf('rule-gone.conf');
    assert.ok(['unknown', 'bob'].includes(c.author), c.body);
    const rules = () => spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout;
    await waitFor('the rule to be back', () => rules().includes(dirRule.join(' ')), 30_000, rules);
    await asLogin('bob', ['sh', '-c', 'echo 2 > "$1"', 'sh', join(f.work, 'rule-back.conf')]);
    assert.equal((await commitOf('rule-back.conf')).author, 'bob');
  },
);

// These last two stop auditd (and start it again).
disruptiveAuditTest(
  'auditd suspended by a low disk: the commits and trail doctor say why, without waiting for it',
  async () => {
    const conf = '/etc/audit/auditd.conf';
    const saved = readFileSync(conf, 'utf8');
    // Thresholds above this disk's size: auditd suspends itself at start, as on a full disk.
    const huge = 100_000_000;
    const restartAuditd = async () => {
      process.kill(auditdPid(), 'SIGTERM');
      await waitFor('auditd to stop', () => auditdPid() === 0, 60_000);
      assert.equal(await auditReady(), undefined);
    };
    try {
      writeFileSync(
        conf,
        saved
          .replace(/^space_left\s*=.*$/m, `space_left = ${2 * huge}`)
          .replace(/^admin_space_left\s*=.*$/m, `admin_space_left = ${huge}`),
      );
      await restartAuditd();
      await asLogin('bob', ['sh', '-c', 'echo s > "$1"', 'sh', join(f.work, 'while-suspended.conf')]);
      const c = await commitOf('while-suspended.conf');
      assert.equal(c.author, 'unknown', c.body);
      assert.match(
        trailer(c.body, 'Trail-Actor')!,
        /^unknown \(auditd writes no records: \d+ MB free on the filesystem of \/var\/log\/audit, below admin_space_left \(100000000 MB\)/,
      );
      const r = JSON.parse((await f.trail(['doctor', '--json'])).stdout.toString()) as {
        attribution: { degraded: boolean; reasons: string[] };
      };
      assert.equal(r.attribution.degraded, true);
      assert.ok(
        r.attribution.reasons.some((x) => /below admin_space_left .* SUSPEND: auditd stops writing records/.test(x)),
        r.attribution.reasons.join('\n'),
      );
    } finally {
      writeFileSync(conf, saved);
      await restartAuditd();
    }
    await settleAfterRestart();
    await asLogin('bob', ['sh', '-c', 'echo r > "$1"', 'sh', join(f.work, 'after-resume.conf')]);
    assert.equal((await commitOf('after-resume.conf')).author, 'bob');
  },
);

disruptiveAuditTest(
  'audit stopped mid-run: the commits say unknown and why; attribution comes back with auditd',
  async () => {
    const pid = auditdPid();
    assert.ok(pid > 0);
    process.kill(pid, 'SIGTERM');
    await waitFor('auditd to stop', () => auditdPid() === 0, 60_000);
    try {
      await asLogin('bob', ['sh', '-c', 'echo x > "$1"', 'sh', join(f.work, 'while-stopped.conf')]);
      const c = await commitOf('while-stopped.conf');
      assert.equal(c.author, 'unknown', c.body);
      assert.match(
        trailer(c.body, 'Trail-Actor')!,
        /^unknown \(.*(auditd is not running|stopped arriving|disabled).*\)$/,
      );
    } finally {
      assert.equal(await auditReady(), undefined);
    }
    await settleAfterRestart();
    await asLogin('bob', ['sh', '-c', 'echo y > "$1"', 'sh', join(f.work, 'after-restart.conf')]);
    const c = await commitOf('after-restart.conf');
    assert.equal(c.author, 'bob', c.body);
  },
);

// Audit blinded and restored before trail's window looks: the rule (or audit) is back by
// then, so only the CONFIG_CHANGE record tells. The commit must say who blinded it, not
// "no audit record names these paths"; the sender here has no login session, like one run
// through systemd-run, whose changes trail otherwise leaves out of its count.
const BLIND_RULE =
  'auditctl -W "$1" -p wa -k "$2" >/dev/null || exit 97; echo x > "$3"; auditctl -w "$1" -p wa -k "$2" >/dev/null 2>&1; exit 0';
auditTest("trail's rule removed and put back around a change: unknown, naming the removal", async () => {
  await run('sh', [
    '-c',
    `echo 4294967295 > /proc/self/loginuid; ${BLIND_RULE}`,
    'sh',
    f.work,
    `trail-${f.name}`,
    join(f.work, 'blind-rule.conf'),
  ]);
  const c = await commitOf('blind-rule.conf');
  assert.equal(c.author, 'unknown', c.body);
  assert.match(
    trailer(c.body, 'Trail-Actor')!,
    /a process without a login session, pid \d+ \(\/usr\/sbin\/auditctl\), removed trail's audit rule \(key trail-attr\)/,
  );
  assert.match(
    watch.stdout,
    /"event":"audit-config","msg":"a process without a login session changed the kernel's audit configuration \(remove_rule key=\\"trail-attr\\"\)/,
  );
});

disruptiveAuditTest('audit turned off and on around a change: unknown, naming who turned it off', async (t) => {
  t.after(() => spawnSync('auditctl', ['-e', '1']));
  await run('sh', [
    '-c',
    'echo 4294967295 > /proc/self/loginuid; auditctl -e 0 >/dev/null || exit 97; echo x > "$1"; auditctl -e 1 >/dev/null',
    'sh',
    join(f.work, 'blind-off.conf'),
  ]);
  const c = await commitOf('blind-off.conf');
  assert.equal(c.author, 'unknown', c.body);
  assert.match(
    trailer(c.body, 'Trail-Actor')!,
    /a process without a login session, pid \d+ \(\/usr\/sbin\/auditctl\), turned kernel audit off \(auditctl -e 0\)/,
  );
});
