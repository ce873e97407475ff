// trail status / diff / snapshot answered by the running daemon over its socket, against the
// same commands doing their own whole scan (TRAIL_NO_WATCHER=1), after random mutations; and
// every way the daemon can fail to answer, which must leave the command correct.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import {
  appendFileSync,
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { run } from '../../src/util/exec.js';
import { refsFingerprint, refusal } from '../../src/watch/query-server.js';
import { WATCHER_PROTOCOL } from '../../src/host/watcher-socket.js';
import { TRAIL_VERSION } from '../../src/util/version.js';
import { BIN, Daemon, Fixture, scratch } from './helpers.js';
import { RepoLock } from '../../src/record/repo/lock.js';

interface StatusJson {
  clean: boolean;
  head: string;
  changes: { path: string; change: string; details: string[] }[];
  files: number;
  answeredBy: { watcher: number } | 'scan';
}

const s = scratch('query');
after(() => s.cleanup());
const f = new Fixture(s.dir, 'q');
const socket = join(f.home, 'run', 'q.sock');

async function trail(args: string[], env: NodeJS.ProcessEnv = {}, okCodes = [0, 3]) {
  const r = await run(process.execPath, [BIN, '--name', 'q', ...args], { env: { ...f.env, ...env }, okCodes });
  return JSON.parse(r.stdout.toString()) as Record<string, unknown>;
}
const byDaemon = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  trail(args, { TRAIL_WATCHER_TIMEOUT_MS: '60000', ...env });
const byScan = (args: string[]) => trail(args, { TRAIL_NO_WATCHER: '1' });

before(async () => {
  mkdirSync(join(f.work, 'd1', 'd2'), { recursive: true });
  writeFileSync(join(f.work, 'a.conf'), 'a = 1\n');
  writeFileSync(join(f.work, 'd1', 'b.conf'), 'b = 1\n');
  writeFileSync(join(f.work, 'd1', 'd2', 'c.conf'), 'c = 1\n');
  // The window never closes by itself during the test: every change stays pending, so the
  // daemon's answer and the scan look at the very same disk against the very same commit.
  await f.init({ 'watch.quietMs': '3600000', 'watch.maxDelayMs': '3600000', 'attribute.audit': 'off' });
});

const NAMES = ['a.conf', 'b', 'c.txt', 'd1', 'd2', 'new dir', 'lat\xe9'];
const relPath = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));
type Op =
  | { op: 'write'; path: string; content: string }
  | { op: 'append'; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'rm'; path: string }
  | { op: 'mkdir'; path: string }
  | { op: 'rename'; path: string; to: string }
  | { op: 'symlink'; path: string; target: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), path: relPath, content: fc.string({ maxLength: 40 }) }),
  fc.record({ op: fc.constant('append' as const), path: relPath }),
  fc.record({ op: fc.constant('chmod' as const), path: relPath, mode: fc.constantFrom(0o600, 0o644, 0o755, 0o4755) }),
  fc.record({ op: fc.constant('rm' as const), path: relPath }),
  fc.record({ op: fc.constant('mkdir' as const), path: relPath }),
  fc.record({ op: fc.constant('rename' as const), path: relPath, to: relPath }),
  fc.record({
    op: fc.constant('symlink' as const),
    path: relPath,
    target: fc.constantFrom('a.conf', '/etc/passwd', '..'),
  }),
);

/** Applies one mutation; one that makes no sense on the disk as it is (ENOENT…) is skipped. */
function apply(o: Op): void {
  const p = Buffer.from(join(f.work, o.path), 'latin1');
  const parent = Buffer.from(dirname(join(f.work, o.path)), 'latin1');
  try {
    switch (o.op) {
      case 'write':
        mkdirSync(parent, { recursive: true });
        writeFileSync(p, o.content);
        break;
      case 'append':
        appendFileSync(p, 'more\n');
        break;
      case 'chmod':
        chmodSync(p, o.mode);
        break;
      case 'rm':
        rmSync(p, { recursive: true, force: true });
        break;
      case 'mkdir':
        mkdirSync(p, { recursive: true });
        break;
      case 'rename':
        if (!(o.path + '/').startsWith(o.to + '/') && !(o.to + '/').startsWith(o.path + '/'))
          renameSync(p, Buffer.from(join(f.work, o.to), 'latin1'));
        break;
      case 'symlink':
        mkdirSync(parent, { recursive: true });
        symlinkSync(o.target, p);
        break;
    }
  } catch {
    /* not applicable to the disk as it is now */
  }
}

test('the daemon answers status, diff and snapshot exactly as a whole scan would, after random mutations', async () => {
  const d = new Daemon(f);
  await d.started();
  try {
    const st = lstatSync(dirname(socket));
    assert.equal(st.mode & 0o777, 0o700, 'the socket folder is owner-only');
    assert.equal(lstatSync(socket).mode & 0o777, 0o600, 'the socket is owner-only');
    let round = 0;
    let withChanges = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 5 }), async (ops) => {
        round++;
        for (const o of ops) apply(o);
        const asked = (await byDaemon(['status', '--json'])) as unknown as StatusJson;
        const scanned = (await byScan(['status', '--json'])) as unknown as StatusJson;
        assert.deepEqual(asked.answeredBy, { watcher: d.pid }, 'the daemon answered');
        assert.equal(scanned.answeredBy, 'scan');
        assert.deepEqual(asked.changes, scanned.changes, `round ${round}: ${JSON.stringify(ops)}`);
        assert.equal(asked.head, scanned.head);
        assert.equal(asked.clean, scanned.clean);
        assert.equal(asked.files, scanned.files, 'the same number of files');
        if (scanned.changes.length) withChanges++;
        if (round % 4 === 0) {
          const dAsked = await byDaemon(['diff', '--json']);
          const dScanned = await byScan(['diff', '--json']);
          assert.deepEqual(dAsked.answeredBy, { watcher: d.pid });
          assert.deepEqual(dAsked.changes, dScanned.changes);
          assert.equal(dAsked.patch, dScanned.patch, 'the same patch');
        }
        if (round % 6 === 0) {
          // Someone else's name, not the daemon's: the commit is the asker's, as `trail snapshot`.
          const snap = await byDaemon(['snapshot', '-m', `round ${round}`, '--json'], { SUDO_USER: 'alice' });
          assert.deepEqual(snap.answeredBy, { watcher: d.pid });
          assert.deepEqual(snap.changes, scanned.changes, 'the snapshot recorded what status showed');
          const after = (await byScan(['status', '--json'])) as unknown as StatusJson;
          assert.deepEqual(after.changes, [], 'nothing left after the snapshot');
          if (snap.commit) {
            const log = (
              await f.git([
                'log',
                '-1',
                '--format=%an%x1f%s%x1f%(trailers:key=Trail-Action,valueonly)',
                `${snap.commit as string}`,
              ])
            ).stdout
              .toString()
              .trim()
              .split('\x1f');
            assert.deepEqual(log, ['alice', `round ${round}`, 'snapshot']);
          }
        }
      }),
      { numRuns: 12, endOnFailure: true, seed: 20 },
    );
    assert.ok(withChanges >= 6, `most rounds compared real changes (${withChanges} of ${round})`);
  } finally {
    await d.stop();
  }
  assert.equal(lstatSync(socket, { throwIfNoEntry: false }), undefined, 'the socket goes with the daemon');
});

/** A stand-in at the daemon's socket: writes `reply(request line)` (or nothing), and hangs
 * up after it when `hangUp`. */
async function fakeDaemon(reply: (line: string) => string | undefined, hangUp = false): Promise<Server> {
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  rmSync(socket, { force: true });
  const srv = createServer((c) => {
    c.on('error', () => {});
    c.once('data', (d) => {
      const r = reply(d.toString());
      if (hangUp) c.end(r ?? '');
      else if (r !== undefined) c.write(r);
    });
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  return srv;
}

test('no daemon, a stale socket, a silent, garbled or other-version daemon: the command scans, correctly', async () => {
  writeFileSync(join(f.work, 'fallback.conf'), 'x\n');
  const truth = (await byScan(['status', '--json'])) as unknown as StatusJson;
  assert.ok(truth.changes.some((c) => c.path === 'fallback.conf'));
  const check = async (what: string) => {
    const got = (await trail(['status', '--json'], { TRAIL_WATCHER_TIMEOUT_MS: '500' })) as unknown as StatusJson;
    assert.equal(got.answeredBy, 'scan', what);
    assert.deepEqual(got.changes, truth.changes, what);
  };
  rmSync(socket, { force: true });
  await check('no socket');

  // A socket file nobody listens on (a daemon killed with -9): connecting is refused.
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  await run('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', socket]);
  assert.ok(lstatSync(socket).isSocket());
  await check('stale socket');

  const ack = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ trail: WATCHER_PROTOCOL, version: TRAIL_VERSION, pid: 1, accepted: true, ...extra }) + '\n';
  // What the stand-ins are asked is recorded by the silent one: one line of the documented request.
  let seen = '';
  const cases: [string, (line: string) => string | undefined, boolean?][] = [
    [
      'silent daemon',
      (line) => {
        seen = line;
        return undefined;
      },
    ],
    ['garbage', () => 'garbage\n'],
    ['another trail version', () => ack({ version: '0.0.1' })],
    ['another protocol', () => ack({ trail: WATCHER_PROTOCOL + 1 })],
    ['declined', () => ack({ accepted: false, why: 'no inotify' })],
    ['garbage answer', () => ack() + '{"ok":tru\n'],
    ['refused answer', () => ack() + JSON.stringify({ ok: false, why: 'cannot vouch' }) + '\n'],
    ['accepted, then hung up', () => ack(), true],
  ];
  for (const [what, reply, hangUp] of cases) {
    const srv = await fakeDaemon(reply, hangUp);
    try {
      await check(what);
    } finally {
      srv.close();
      rmSync(socket, { force: true });
    }
  }
  assert.deepEqual(JSON.parse(seen), { trail: WATCHER_PROTOCOL, version: TRAIL_VERSION, op: 'status' });
});

test('a snapshot falls back too: nothing is lost when no daemon answers', async () => {
  rmSync(socket, { force: true });
  const snap = await trail(['snapshot', '-m', 'without daemon', '--json']);
  assert.equal(snap.answeredBy, 'scan');
  assert.ok((snap.changes as { path: string }[]).some((c) => c.path === 'fallback.conf'));
  const st = (await byScan(['status', '--json'])) as unknown as StatusJson;
  assert.equal(st.clean, true);
  assert.ok(readdirSync(f.work).includes('fallback.conf'));
});

test('a snapshot whose asker has gone is not made: the asker makes its own', async () => {
  const d = new Daemon(f);
  await d.started();
  const lock = new RepoLock(join(f.gitDir, 'trail', 'lock'));
  try {
    writeFileSync(join(f.work, 'asked.conf'), 'x\n');
    const seen = (await byDaemon(['status', '--json'])) as unknown as StatusJson;
    assert.ok(
      seen.changes.some((c) => c.path === 'asked.conf'),
      'the daemon knows the change',
    );
    const head = (await f.git(['rev-parse', 'refs/heads/observed'])).stdout.toString().trim();
    // The daemon waits for the writer lock (held here) while its asker gives up and goes.
    await lock.acquire(5_000, 'test');
    const from = d.lines.length;
    await new Promise<void>((resolve, reject) => {
      const c = createConnection(socket);
      c.on('error', reject);
      c.on('connect', () =>
        c.write(
          JSON.stringify({
            trail: WATCHER_PROTOCOL,
            version: TRAIL_VERSION,
            op: 'snapshot',
            actor: { name: 'alice' },
          }) + '\n',
        ),
      );
      c.once('data', () => {
        c.destroy(); // acknowledged: gone before the answer
        resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    await lock.release();
    const line = await d.waitLog('the refusal', (l) => l.event === 'answered', from);
    assert.match(line.msg, /snapshot: the asker has gone/);
    assert.equal((await f.git(['rev-parse', 'refs/heads/observed'])).stdout.toString().trim(), head, 'no commit');
  } finally {
    await lock.release();
    await d.stop();
  }
});

test('what the daemon refuses to answer', () => {
  const ok = { trail: WATCHER_PROTOCOL, version: TRAIL_VERSION, op: 'status' };
  assert.equal(refusal(ok), undefined);
  assert.match(refusal(null)!, /not a request/);
  assert.match(refusal({ ...ok, trail: 2 })!, /protocol 2/);
  assert.match(refusal({ ...ok, version: '9.9.9' })!, /trail 9\.9\.9/);
  assert.match(refusal({ ...ok, op: 'revert' })!, /unknown op revert/);
  assert.match(refusal({ ...ok, op: 'snapshot' })!, /without a valid actor/);
  assert.match(refusal({ ...ok, op: 'snapshot', actor: { name: 'a\nb' } })!, /valid actor/);
  assert.match(refusal({ ...ok, op: 'snapshot', actor: { name: 'alice' }, message: 'x'.repeat(5000) })!, /message/);
  assert.equal(refusal({ ...ok, op: 'snapshot', actor: { name: 'alice' }, message: 'why' }), undefined);
  assert.equal(refusal({ ...ok, op: 'snapshot', actor: { name: 'alice' }, onlyAttributed: true }), undefined);
  assert.match(refusal({ ...ok, op: 'snapshot', actor: { name: 'alice' }, onlyAttributed: 'yes' })!, /onlyAttributed/);
  // The native front's render request (src/cli/front).
  const render = { json: false, color: false, cwd: '/etc' };
  assert.equal(refusal({ ...ok, render }), undefined);
  assert.equal(refusal({ ...ok, render: { ...render, name: 'etc' } }), undefined);
  assert.match(refusal({ ...ok, render: { ...render, cwd: 'etc' } })!, /invalid render/);
  assert.match(refusal({ ...ok, render: { ...render, json: 'no' } })!, /invalid render/);
  assert.match(refusal({ ...ok, render: { ...render, name: 7 } })!, /invalid render/);
  assert.match(refusal({ ...ok, render: null })!, /invalid render/);
  assert.match(refusal({ ...ok, op: 'diff', render })!, /diff is not rendered/);
});

test('the refs fingerprint moves with every ref update, and only then', async () => {
  const g = join(s.dir, 'fp.git');
  await run('git', ['init', '-q', '--bare', g]);
  const git = (args: string[]) =>
    run('git', ['--git-dir', g, ...args], {
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
  const tree = (await git(['hash-object', '-t', 'tree', '-w', '/dev/null'])).stdout.toString().trim();
  const commit = async (parent?: string) =>
    (
      await run('git', ['--git-dir', g, 'commit-tree', tree, '-m', 'x', ...(parent ? ['-p', parent] : [])], {
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'a',
          GIT_AUTHOR_EMAIL: 'a@b',
          GIT_COMMITTER_NAME: 'a',
          GIT_COMMITTER_EMAIL: 'a@b',
        },
      })
    ).stdout
      .toString()
      .trim();
  const c1 = await commit();
  const c2 = await commit(c1);
  const seen = new Set<string>();
  const step = async (what: string, args: string[]) => {
    await git(args);
    const fp = refsFingerprint(g);
    assert.ok(!seen.has(fp), `${what}: the fingerprint changed`);
    seen.add(fp);
    assert.equal(refsFingerprint(g), fp, `${what}: and stays while nothing changes`);
  };
  seen.add(refsFingerprint(g));
  await step('a new ref', ['update-ref', 'refs/heads/observed', c1]);
  await step('the ref moved', ['update-ref', 'refs/heads/observed', c2]);
  await step('moved back at once', ['update-ref', 'refs/heads/observed', c1]);
  await step('a notes ref', ['update-ref', 'refs/notes/trail', c1]);
  await step('refs packed', ['pack-refs', '--all']);
  await step('a packed ref moved', ['update-ref', 'refs/heads/observed', c2]);
});
