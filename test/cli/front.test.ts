// The native front (src/cli/front/front.c, built to dist/trail): `trail status` and `trail
// snapshot` answered by a running daemon without Node.js, byte for byte what the Node.js
// command prints; everything else, and every answer it cannot trust, handed over to Node.js.
//
// A front run with PATH=/nonexistent cannot start node: where it answers, that proves it did
// so alone; where it must hand over, the failed exec ("cannot run node") proves it tried to.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, type RunResult } from '../../src/util/exec.js';
import { WATCHER_PROTOCOL } from '../../src/host/watcher-socket.js';
import { TRAIL_VERSION } from '../../src/util/version.js';
import { BIN, Daemon, Fixture, scratch } from '../watch/helpers.js';

const FRONT = join(dirname(BIN), '..', 'dist', 'trail');
const cc = process.env.CC || 'cc';
const noCompiler = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cc]).status !== 0;
const skip = noCompiler ? `no C compiler (${cc}): the front is not built, bin/trail.js does everything` : false;

const s = scratch('front');
after(() => s.cleanup());
const f = new Fixture(s.dir, 'fr');
const socket = join(f.home, 'run', 'fr.sock');
const NO_NODE = { PATH: '/nonexistent' };

function front(args: string[], env: NodeJS.ProcessEnv = {}, cwd = f.work): Promise<RunResult> {
  return run(FRONT, args, { env: { ...f.env, ...env }, okCodes: [0, 1, 2, 3], cwd });
}
function node(args: string[], env: NodeJS.ProcessEnv = {}, cwd = f.work): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { env: { ...f.env, ...env }, okCodes: [0, 1, 2, 3], cwd });
}
/** What may differ between two runs a moment apart: "oldest 3s ago", the scan's duration. */
const steady = (text: string) => text.replace(/\b\d+[smhd] ago\b/g, 'T ago');
const out = (r: RunResult) => ({
  code: r.code,
  stdout: steady(r.stdout.toString()),
  stderr: steady(r.stderr.toString()),
});
function json(r: RunResult): Record<string, unknown> {
  const j = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
  delete j.seconds;
  return j;
}

before(async () => {
  if (skip) return;
  assert.ok(existsSync(FRONT), `${FRONT} is built by npm test (packaging/native.mjs)`);
  mkdirSync(join(f.work, 'sub'), { recursive: true });
  writeFileSync(join(f.work, 'a.conf'), 'a = 1\n');
  writeFileSync(join(f.work, 'sub', 'b.conf'), 'b = 1\n');
  // Changes stay pending in the daemon's window: the front and Node.js see the same state.
  await f.init({ 'watch.quietMs': '3600000', 'watch.maxDelayMs': '3600000', 'attribute.audit': 'off' });
});

test(
  'status and snapshot: the front prints what the Node.js command prints, and starts no Node.js',
  { skip },
  async () => {
    const d = new Daemon(f);
    await d.started();
    try {
      for (const args of [['status'], ['--name', 'fr', 'status'], ['status', '--name=fr']]) {
        const mine = await front(args, NO_NODE);
        assert.deepEqual(out(mine), out(await node(args)), args.join(' '));
        assert.equal(mine.code, 0);
        assert.match(mine.stdout.toString(), /^clean: /);
      }
      // Changes, from a folder below the watched one (the trail is chosen by the folder).
      writeFileSync(join(f.work, 'a.conf'), 'a = 2\n');
      writeFileSync(join(f.work, 'new file'), 'x\n');
      chmodSync(join(f.work, 'sub', 'b.conf'), 0o600);
      const sub = join(f.work, 'sub');
      const mine = await front(['status'], NO_NODE, sub);
      assert.equal(mine.code, 3, 'exit 3: something changed');
      assert.deepEqual(out(mine), out(await node(['status'], {}, sub)));
      assert.match(mine.stdout.toString(), /^3 changes in .* since [0-9a-f]{12}:\n {2}M a\.conf\n/);
      const j = await front(['status', '--json'], NO_NODE);
      assert.deepEqual(json(j), json(await node(['--json', 'status'])));
      assert.deepEqual(json(j).answeredBy, { watcher: d.pid });

      // Snapshot: the asker's name and message, as `trail snapshot` records them.
      const snap = await front(['snapshot', '-m', 'grüße, "quoted"\tand tabbed'], { ...NO_NODE, SUDO_USER: 'alice' });
      assert.equal(snap.code, 0, snap.stderr.toString());
      const m =
        /^recorded 3 changes as ([0-9a-f]{12})\n {2}M a\.conf\n {2}A new file\n {2}m sub\/b\.conf {2}\(mode 0644 → 0600\)\n$/.exec(
          snap.stdout.toString(),
        );
      assert.ok(m, snap.stdout.toString());
      const [author, subject] = (await f.git(['log', '-1', '--format=%an%x1f%s', 'refs/heads/observed'])).stdout
        .toString()
        .trim()
        .split('\x1f');
      assert.equal(author, 'alice');
      assert.equal(subject, 'grüße, "quoted" and tabbed'.replace(' and', '\tand').replace(/[\r\n]+/g, ' '));
      assert.ok((await f.head()).startsWith(m[1]!));
      // The same by Node.js, for the shape of its output.
      writeFileSync(join(f.work, 'a.conf'), 'a = 3\n');
      const nodeSnap = await node(['snapshot', '-m', 'by node']);
      writeFileSync(join(f.work, 'a.conf'), 'a = 4\n');
      const frontSnap = await front(['snapshot', '--message=by front'], NO_NODE);
      const shape = (r: RunResult) => r.stdout.toString().replace(/[0-9a-f]{12}/g, 'C');
      assert.equal(shape(frontSnap), shape(nodeSnap));
      writeFileSync(join(f.work, 'a.conf'), 'a = 5\n');
      const sj = await front(['--json', 'snapshot', '-mjson'], NO_NODE);
      assert.deepEqual(json(sj).answeredBy, { watcher: d.pid });
      assert.equal((json(sj).changes as unknown[]).length, 1);
      const nothing = await front(['snapshot'], NO_NODE);
      assert.equal(nothing.stdout.toString(), 'nothing changed since the last commit\n');
    } finally {
      await d.stop();
    }
  },
);

test('a reader that went away (| head): the exit code Node.js gives, not death by SIGPIPE', { skip }, async () => {
  const d = new Daemon(f);
  await d.started();
  // stdout a pipe whose reader has closed; python restores SIGPIPE's default in the child,
  // as a shell does.
  const closedPipe = async (cmd: string[], PATH = process.env.PATH!) => {
    const py =
      'import os,subprocess,sys; r,w=os.pipe(); os.close(r); env=dict(os.environ, PATH=sys.argv[1]); print(subprocess.run(sys.argv[2:], stdout=w, env=env).returncode)';
    const r = await run('python3', ['-c', py, PATH, ...cmd], { env: f.env, cwd: f.work });
    return { code: r.stdout.toString().trim(), stderr: r.stderr.toString() };
  };
  try {
    writeFileSync(join(f.work, 'a.conf'), 'a = 7\n');
    const mine = await closedPipe([FRONT, 'status'], NO_NODE.PATH);
    assert.deepEqual(mine, { code: '3', stderr: '' }, 'exit 3, as the Node.js command');
    const theirs = await closedPipe([process.execPath, BIN, 'status']);
    assert.deepEqual(mine, theirs);
  } finally {
    await d.stop();
  }
});

test('on a terminal: the same colours, stdout and stderr in the order written', { skip }, async () => {
  const d = new Daemon(f);
  await d.started();
  // A terminal shows both streams as one: python's pty module runs each command on one.
  const onTty = async (cmd: string[]) => {
    const env: NodeJS.ProcessEnv = { ...f.env, TERM: 'xterm' };
    delete env.NO_COLOR;
    const r = await run('python3', ['-c', 'import pty,sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', ...cmd], {
      env,
      cwd: f.work,
      okCodes: [0, 3],
    });
    return steady(r.stdout.toString());
  };
  try {
    writeFileSync(join(f.work, 'a.conf'), 'a = 6\n');
    const mine = await onTty([FRONT, 'status']);
    assert.equal(mine, await onTty([process.execPath, BIN, 'status']));
    assert.match(mine, /\x1b\[33mM\x1b\[39m a\.conf/, 'coloured as on a terminal');
  } finally {
    await d.stop();
  }
});

test('what the front hands over to Node.js: other commands, options, text it cannot pass on', { skip }, async () => {
  const d = new Daemon(f);
  await d.started();
  try {
    const handed = async (args: string[], env: NodeJS.ProcessEnv = {}, why = args.join(' ')) => {
      const r = await run(FRONT, args, { env: { ...f.env, ...NO_NODE, ...env }, okCodes: [1] });
      assert.match(r.stderr.toString(), /^trail: cannot run node: /, why);
    };
    await handed(['--version']);
    await handed([]);
    await handed(['log']);
    await handed(['status', '--full']);
    await handed(['status', '-h']);
    await handed(['status', 'extra']);
    await handed(['status', '--name']);
    await handed(['--name', '-x', 'status']);
    await handed(['diff']);
    await handed(['snapshot', '-m', 'a', '-m', 'b']);
    await handed(['snapshot', '-m']);
    await handed(['status', '--', 'x']);
    await handed(['status'], { TRAIL_NO_WATCHER: '1' });
    // A timeout Node.js reads otherwise than as plain digits (Number(): -1 is 1 ms, 1e3 is
    // 1000; more than 2^31-1 ms is 1 ms and a warning).
    for (const ms of ['-1', '1e3', ' 5', '0x10', '2147483648', '99999999999999999999'])
      await handed(['status'], { TRAIL_WATCHER_TIMEOUT_MS: ms }, `TRAIL_WATCHER_TIMEOUT_MS=${ms}`);
    // A TRAIL_HOME with a "." segment: Node.js and the kernel might not agree where it is.
    await handed(['status'], { TRAIL_HOME: `${f.home}/.` }, 'TRAIL_HOME with a dot segment');
    await handed(['--name', 'nosuch', 'status']);
    // A TRAIL_HOME that is not UTF-8 (here a link to the real one): Node.js replaces the
    // byte, looks in another folder, and finds no trail there. (A shell makes the byte.)
    symlinkSync(f.home, Buffer.from(`${s.dir}/caf\xe9`, 'latin1'));
    const home = await run('/bin/sh', ['-c', 'TRAIL_HOME="$1/$(printf \'caf\\351\')" exec "$0" status', FRONT, s.dir], {
      env: { ...f.env, ...NO_NODE },
      okCodes: [1],
    });
    assert.match(home.stderr.toString(), /^trail: cannot run node: /, 'a TRAIL_HOME that is not UTF-8');
    // Node.js reads argv as UTF-8 and replaces what is not: the front does not guess how.
    // (spawn passes only UTF-8: a shell makes the byte.)
    const latin1 = await run('/bin/sh', ['-c', 'exec "$0" snapshot -m "$(printf \'caf\\351\')"', FRONT], {
      env: { ...f.env, ...NO_NODE },
      okCodes: [1],
    });
    assert.match(latin1.stderr.toString(), /^trail: cannot run node: /, 'a message that is not UTF-8');
    // The daemon refuses a question for another watched directory (the folder picks it).
    const other = new Fixture(s.dir, 'other');
    await other.init({ 'attribute.audit': 'off' });
    await run(FRONT, ['status'], { env: { ...f.env, ...NO_NODE }, cwd: other.work, okCodes: [1] }).then((r) =>
      assert.match(r.stderr.toString(), /cannot run node/, 'a folder of another trail'),
    );
    // ...and with Node.js there, the handing over is the command itself.
    const v = await front(['--version']);
    assert.equal(v.stdout.toString().trim(), TRAIL_VERSION);
    const full = await front(['status', '--full', '--json']);
    assert.equal(json(full).answeredBy, 'scan');
    const inOther = await front(['--json', 'status'], {}, other.work);
    assert.equal(json(inOther).name, 'other');
    // Two trails, and a folder in neither: the daemon declines, and Node.js says to choose.
    const both = await front(['status'], {}, s.dir);
    assert.equal(both.code, 2);
    assert.match(both.stderr.toString(), /several directories are watched/);
  } finally {
    await d.stop();
  }
});

/** A stand-in at the daemon's socket that answers every question with `reply`. */
async function fakeDaemon(reply: Buffer | string): Promise<Server> {
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  rmSync(socket, { force: true });
  const srv = createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.end(reply));
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  return srv;
}

test('an answer the front cannot trust is handed over, never half printed', { skip }, async () => {
  const ack = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ trail: WATCHER_PROTOCOL, version: TRAIL_VERSION, pid: 1, accepted: true, ...extra }) + '\n';
  const head = (bytes: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ ok: true, exit: 0, bytes, ...extra }) + '\n';
  const good = '1 6\nclean\n';
  const cases: [string, string][] = [
    ['garbage', 'garbage\n'],
    ['another trail version', ack({ version: '0.0.1' }) + head(good.length) + good],
    ['another protocol', ack({ trail: WATCHER_PROTOCOL + 1 }) + head(good.length) + good],
    ['declined', ack({ accepted: false, why: 'no inotify' })],
    ['no answer after the acknowledgement', ack()],
    ['a refused answer', ack() + JSON.stringify({ ok: false, why: 'cannot vouch' }) + '\n'],
    ['an answer for the Node.js client', ack() + JSON.stringify({ ok: true, answer: {} }) + '\n'],
    ['fewer bytes than announced', ack() + head(good.length + 5) + good],
    ['a record longer than the answer', ack() + head(good.length) + '1 60\nclean\n'],
    ['a record for fd 3', ack() + head(good.length) + '3 6\nclean\n'],
    ['a negative length', ack() + head(9) + '1 -6\nclean'],
    ['an exit code out of range', ack() + head(good.length, { exit: 300 }) + good],
  ];
  rmSync(socket, { force: true });
  for (const [what, reply] of cases) {
    const srv = await fakeDaemon(reply);
    try {
      const r = await run(FRONT, ['status'], { env: { ...f.env, ...NO_NODE }, cwd: f.work, okCodes: [1] });
      assert.equal(r.stdout.toString(), '', `${what}: nothing printed`);
      assert.match(r.stderr.toString(), /^trail: cannot run node: /, what);
    } finally {
      srv.close();
      rmSync(socket, { force: true });
    }
  }
  // The control: the same stand-in with a whole answer is printed as it says.
  const srv = await fakeDaemon(ack() + head(good.length + 9, { exit: 3 }) + good + '2 5\nwarn\n');
  try {
    const r = await run(FRONT, ['status'], { env: { ...f.env, ...NO_NODE }, cwd: f.work, okCodes: [3] });
    assert.equal(r.stdout.toString(), 'clean\n');
    assert.equal(r.stderr.toString(), 'warn\n');
  } finally {
    srv.close();
    rmSync(socket, { force: true });
  }
  // A stdout another program left non-blocking (a pipe, a shared terminal), read slowly: a
  // full pipe says EAGAIN, and the rest of the answer was dropped.
  const big = 'x'.repeat(1 << 20);
  const record = `1 ${big.length}\n` + big;
  const bigSrv = await fakeDaemon(ack() + head(record.length) + record);
  try {
    const py = [
      'import os,subprocess,sys,time',
      'r,w=os.pipe(); os.set_blocking(w, False)',
      'p=subprocess.Popen(sys.argv[1:], stdout=w, env=dict(os.environ, PATH="/nonexistent")); os.close(w)',
      'time.sleep(0.3); got=b"".join(iter(lambda: os.read(r, 65536), b""))',
      'print(p.wait(), len(got))',
    ].join('\n');
    const r = await run('python3', ['-c', py, FRONT, 'status'], { env: f.env, cwd: f.work });
    assert.equal(r.stdout.toString(), `0 ${big.length}\n`, 'all of it written');
  } finally {
    bigSrv.close();
    rmSync(socket, { force: true });
  }
  // And a stale socket (a daemon killed with -9): handed over.
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  await run('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', socket]);
  const stale = await run(FRONT, ['status'], { env: { ...f.env, ...NO_NODE }, cwd: f.work, okCodes: [1] });
  assert.match(stale.stderr.toString(), /cannot run node/);
  rmSync(socket, { force: true });
});

test('a daemon that does not take the question is given up on in time, as by Node.js', { skip }, async () => {
  const quick = { ...f.env, ...NO_NODE, TRAIL_WATCHER_TIMEOUT_MS: '300' };
  rmSync(socket, { force: true });
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  // A daemon that accepts and never reads: a question larger than the socket's buffer (a
  // long message, 6 bytes a control character in JSON) waited for ever in send().
  const deaf = createServer((c) => c.pause());
  await new Promise<void>((r) => deaf.listen(socket, r));
  try {
    const r = await run(FRONT, ['snapshot', '-m', '\x01'.repeat(120_000)], {
      env: quick,
      cwd: f.work,
      okCodes: [1],
      timeoutMs: 10_000,
    });
    assert.match(r.stderr, /^trail: cannot run node: /, 'handed over after the timeout');
  } finally {
    deaf.close();
    rmSync(socket, { force: true });
  }
  // A daemon whose queue of connections is full (stopped, or stuck): connect() waited for
  // ever; Node.js's client is told EAGAIN at once.
  const py = [
    'import os,socket,subprocess,sys',
    's=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)',
    'c=socket.socket(socket.AF_UNIX); c.setblocking(False); c.connect(sys.argv[1])',
    'p=subprocess.run(sys.argv[2:], capture_output=True, timeout=10, env=dict(os.environ, PATH="/nonexistent"))',
    'sys.stdout.write(p.stderr.decode())',
  ].join('\n');
  const full = await run('python3', ['-c', py, socket, FRONT, 'status'], {
    env: { ...quick, PATH: process.env.PATH },
    cwd: f.work,
  }).finally(() => rmSync(socket, { force: true }));
  assert.match(full.stdout.toString(), /^trail: cannot run node: /, 'a full queue: handed over');
});
