import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { trail, tempDir, git } from '../support/cli.js';

// Real logrotate, real files, the real CLI: `trail logs checkpoint` is what trail watch runs
// every logs.checkpointSeconds.

interface Setup {
  tmp: string;
  home: string;
  dir: string;
  repo: string;
  log: string;
}

// `trail init` and the default policy are the same for every test: they are done once per
// file, and each test starts from a fresh copy of that trail. The copy goes to the very same
// absolute paths (the registry in trail's home and the shadow repository name them), which is
// sound because node:test runs a file's tests one after another. The logs are configured
// after the copy, by each test: trail tracks a log by its inode, and a copy has new ones.
const root = tempDir('trail-logs-');
after(root.cleanup);
const live = join(root.path, 'live');
const template = join(root.path, 'template');
let initialised: Promise<string> | undefined;

async function initOnce(): Promise<string> {
  const home = join(live, 'home');
  const dir = join(live, 'var-log');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.log'), 'boot\n');
  writeFileSync(join(dir, 'app.conf'), 'level=info\n');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  // No syslog from tests; an alert still goes out through the webhook when a test sets one.
  writeFileSync(join(live, 'policy.yaml'), 'alert:\n  syslog: false\n');
  const p = await trail(home, ['policy', 'set', join(live, 'policy.yaml')]);
  assert.equal(p.code, 0, p.stderr);
  const cp = spawnSync('cp', ['-a', live, template], { encoding: 'utf8' });
  assert.equal(cp.status, 0, cp.stderr);
  return init.json.repo as string;
}

async function setup(opts: { keep?: boolean; policy?: string } = {}): Promise<Setup> {
  const repo = await (initialised ??= initOnce());
  rmSync(live, { recursive: true, force: true });
  const cp = spawnSync('cp', ['-a', template, live], { encoding: 'utf8' });
  assert.equal(cp.status, 0, cp.stderr);
  const home = join(live, 'home');
  const dir = join(live, 'var-log');
  for (const [k, v] of [['logs.paths', '*.log'], ...(opts.keep ? [['logs.keepAppended', 'true']] : [])] as const) {
    const r = await trail(home, ['config', 'set', k, v]);
    assert.equal(r.code, 0, r.stderr);
  }
  if (opts.policy) {
    writeFileSync(join(live, 'policy.yaml'), opts.policy);
    const p = await trail(home, ['policy', 'set', join(live, 'policy.yaml')]);
    assert.equal(p.code, 0, p.stderr);
  }
  return { tmp: live, home, dir, repo, log: join(dir, 'app.log') };
}

async function checkpoint(s: Setup) {
  const r = await trail(s.home, ['logs', 'checkpoint', '--json']);
  assert.ok(r.json, `no JSON from checkpoint: ${r.stderr}`);
  return { code: r.code, ...(r.json as { incidents: any[]; notes: string[]; commit?: string }) };
}

function logrotate(s: Setup, directives: string[], extra = ''): void {
  const conf = join(s.tmp, 'logrotate.conf');
  writeFileSync(conf, `${s.log} {\n  rotate 3\n  missingok\n${directives.map((d) => `  ${d}\n`).join('')}${extra}}\n`, {
    mode: 0o644,
  });
  const r = spawnSync('logrotate', ['-f', '-s', join(s.tmp, 'logrotate.state'), conf], { encoding: 'utf8' });
  assert.equal(r.status, 0, `logrotate: ${r.stderr}`);
}

const lines = (from: number, n: number, tag = 'line') =>
  Array.from({ length: n }, (_, i) => `${tag} ${from + i} sshd[${100 + i}]: session opened\n`).join('');

test('create rotation: the old inode is followed to app.log.1, the new file starts a generation; no alert', async (t) => {
  const s = await setup();
  appendFileSync(s.log, lines(0, 20));
  assert.deepEqual((await checkpoint(s)).incidents, []);
  appendFileSync(s.log, lines(20, 5)); // not yet seen when the rotation happens
  logrotate(s, ['create 0640 root root']);
  appendFileSync(s.log, lines(25, 5));
  const c = await checkpoint(s);
  assert.equal(c.code, 0);
  assert.deepEqual(c.incidents, []);
  assert.ok(
    c.notes.some((n) => /rotated \(generation 1 renamed to app\.log\.1\)/.test(n)),
    c.notes.join('\n'),
  );
  const st = await trail(s.home, ['logs', 'status', '--json']);
  const row = st.json.logs.find((l: { path: string }) => l.path === 'app.log');
  assert.equal(row.generation, 2);
  assert.equal(row.verifiedLength, lines(25, 5).length);
  assert.deepEqual(
    row.rotated.map((r: { location: string; length: number }) => [r.location, r.length]),
    [['app.log.1', 5 + lines(0, 25).length]],
  );
  // A second rotation moves generation 1 on to app.log.2 and generation 2 to app.log.1.
  logrotate(s, ['create 0640 root root']);
  const c2 = await checkpoint(s);
  assert.deepEqual(c2.incidents, []);
  const v = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(v.code, 0, v.stdout);
  assert.deepEqual(v.json.logs[0].rotated.map((r: { location: string }) => r.location).sort(), [
    'app.log.1',
    'app.log.2',
  ]);
  // Neither the log nor its rotated copies are in the content tree; the config file is.
  const tree = git(s.repo, ['ls-tree', '--name-only', 'refs/heads/observed']).stdout.toString();
  assert.equal((await trail(s.home, ['snapshot'])).code, 0);
  const after = git(s.repo, ['ls-tree', '--name-only', 'refs/heads/observed']).stdout.toString().split('\n');
  assert.ok(after.includes('app.conf'), tree);
  assert.ok(!after.some((n) => n.startsWith('app.log')), after.join(' '));
});

test('copytruncate: the bytes written before the copy are taken from the copy; no alert', async (t) => {
  const s = await setup({ keep: true });
  appendFileSync(s.log, lines(0, 10));
  await checkpoint(s);
  appendFileSync(s.log, lines(10, 3));
  logrotate(s, ['copytruncate']);
  appendFileSync(s.log, lines(13, 2));
  const c = await checkpoint(s);
  assert.equal(c.code, 0, JSON.stringify(c.incidents));
  assert.deepEqual(c.incidents, []);
  assert.ok(
    c.notes.some((n) => /copytruncate; generation 1 continues in app\.log\.1/.test(n)),
    c.notes.join('\n'),
  );
  const st = (await trail(s.home, ['logs', 'status', '--json'])).json.logs[0];
  assert.equal(st.verifiedLength, lines(13, 2).length);
  assert.equal(st.rotated[0].length, 5 + lines(0, 13).length);
});

test('compress and delaycompress: a rotated copy followed until compressed; no alert', async (t) => {
  const s = await setup();
  appendFileSync(s.log, lines(0, 10));
  await checkpoint(s);
  appendFileSync(s.log, lines(10, 2));
  logrotate(s, ['compress']);
  const c = await checkpoint(s);
  assert.deepEqual(c.incidents, []);
  assert.ok(
    c.notes.some((n) => /compressed/.test(n)),
    c.notes.join('\n'),
  );
  assert.ok(existsSync(s.log + '.1.gz'));

  appendFileSync(s.log, lines(100, 4));
  await checkpoint(s);
  logrotate(s, ['compress', 'delaycompress']); // app.log → app.log.1, kept plain
  const d1 = await checkpoint(s);
  assert.deepEqual(d1.incidents, []);
  assert.ok(
    d1.notes.some((n) => /renamed to app\.log\.1/.test(n)),
    d1.notes.join('\n'),
  );
  appendFileSync(s.log, lines(200, 3));
  await checkpoint(s);
  logrotate(s, ['compress', 'delaycompress']); // app.log.1 → app.log.2.gz, app.log → app.log.1
  const d2 = await checkpoint(s);
  assert.deepEqual(d2.incidents, []);
  assert.ok(
    d2.notes.some((n) => /compressed to app\.log\.2\.gz/.test(n)),
    d2.notes.join('\n'),
  );
  assert.equal((await trail(s.home, ['logs', 'verify'])).code, 0);
});

test('a writer appending while logrotate rotates (create + HUP): no alert, no byte unaccounted for', async (t) => {
  const s = await setup();
  // The writer keeps its file open and reopens it on SIGHUP, as syslog daemons do.
  const writer = join(s.tmp, 'writer.mjs');
  writeFileSync(
    writer,
    `import { openSync, writeSync, closeSync } from 'node:fs';
let fd = openSync(process.argv[2], 'a'); let i = 0;
process.on('SIGHUP', () => { const old = fd; fd = openSync(process.argv[2], 'a'); closeSync(old); });
process.on('SIGTERM', () => { closeSync(fd); process.stdout.write(String(i)); process.exit(0); });
setInterval(() => { for (let k = 0; k < 5; k++) writeSync(fd, 'w ' + (i++) + ' pam_unix(sshd:session): session opened\\n'); }, 2);
`,
  );
  const child = spawn(process.execPath, [writer, s.log], { stdio: ['ignore', 'pipe', 'inherit'] });
  let written = '';
  child.stdout.on('data', (d) => (written += d));
  t.after(() => child.kill('SIGKILL'));
  const rotations = 3;
  let incidents: unknown[] = [];
  const notes: string[] = [];
  for (let r = 0; r < rotations; r++) {
    const c = await checkpoint(s);
    incidents = incidents.concat(c.incidents);
    notes.push(...c.notes);
    // A checkpoint runs while logrotate runs, as with the daemon.
    const during = checkpoint(s);
    logrotate(s, ['create 0640 root root'], `  postrotate\n    kill -HUP ${child.pid}\n  endscript\n`);
    const d = await during;
    incidents = incidents.concat(d.incidents);
    notes.push(...d.notes);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  const c = await checkpoint(s);
  incidents = incidents.concat(c.incidents);
  notes.push(...c.notes);
  assert.deepEqual(incidents, [], notes.join('\n'));
  assert.ok(notes.filter((n) => /rotated/.test(n)).length >= rotations, notes.join('\n'));
  // Every line the writer wrote is on disk, in order across the files (rotate 3 keeps them all).
  const count = Number(written);
  assert.ok(count > 0);
  const files = ['app.log.3', 'app.log.2', 'app.log.1', 'app.log'].filter((f) => existsSync(join(s.dir, f)));
  const all = files
    .map((f) => readFileSync(join(s.dir, f), 'utf8'))
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('w '));
  assert.equal(all.length, count);
  const v = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(v.code, 0, v.stdout);
  assert.equal(v.json.logs[0].status, 'intact');
});

test('sed -i removing a middle line: detected, with the offset and the removed text (bytes kept)', async (t) => {
  const s = await setup({ keep: true });
  appendFileSync(s.log, lines(0, 5));
  await checkpoint(s);
  appendFileSync(s.log, 'Accepted password for mallory from 203.0.113.9\n');
  const offset = readFileSync(s.log).length - 'Accepted password for mallory from 203.0.113.9\n'.length;
  appendFileSync(s.log, lines(5, 5));
  await checkpoint(s);
  assert.equal(spawnSync('sed', ['-i', '/mallory/d', s.log]).status, 0);
  const v = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(v.code, 11);
  assert.equal(v.json.logs[0].status, 'diverged');
  const c = await checkpoint(s);
  assert.equal(c.code, 11);
  assert.equal(c.incidents.length, 1);
  const i = c.incidents[0];
  assert.equal(i.kind, 'replaced'); // sed -i writes a new file and renames it over the log
  assert.equal(i.offset, offset);
  assert.equal(i.removed, 'Accepted password for mallory from 203.0.113.9\n');
  assert.match(i.summary, /removed: "Accepted password for mallory/);
  // The checkpoint names it in a trailer, and verify keeps saying it.
  const trailers = git(s.repo, ['log', '-1', '--format=%(trailers:key=Trail-Alert,valueonly)', 'refs/trail/logs'])
    .stdout.toString()
    .trim();
  assert.equal(trailers, 'log replaced app.log');
  const after = await trail(s.home, ['logs', 'verify']);
  assert.equal(after.code, 11);
  assert.match(after.stdout, /intact since .*\n.*1 earlier incident/);
  assert.match(after.stdout, new RegExp(`at offset ${offset}`));
});

test('sed -i without kept bytes: detected, placed between two checkpoints', async (t) => {
  const s = await setup();
  appendFileSync(s.log, lines(0, 5));
  await checkpoint(s);
  const from = readFileSync(s.log).length;
  appendFileSync(s.log, 'Accepted password for mallory\n' + lines(5, 2));
  const to = readFileSync(s.log).length;
  await checkpoint(s);
  appendFileSync(s.log, lines(7, 2));
  await checkpoint(s);
  assert.equal(spawnSync('sed', ['-i', '/mallory/d', s.log]).status, 0);
  const c = await checkpoint(s);
  assert.equal(c.incidents.length, 1);
  assert.equal(c.incidents[0].removed, undefined);
  assert.deepEqual([c.incidents[0].range.from, c.incidents[0].range.to], [from, to]);
});

test('truncate -s 0 outside a rotation: detected and alerted through the webhook', async (t) => {
  const got: string[] = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      got.push(b);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const keyDir = tempDir();
  t.after(keyDir.cleanup);
  const key = join(keyDir.path, 'key');
  writeFileSync(key, 'k\n', { mode: 0o600 });
  const port = (server.address() as { port: number }).port;
  const s = await setup({
    policy: `alert:\n  syslog: false\n  webhook: http://127.0.0.1:${port}/hook\n  webhookSecretFile: ${key}\n`,
  });
  appendFileSync(s.log, lines(0, 8));
  await checkpoint(s);
  const size = readFileSync(s.log).length;
  assert.equal(spawnSync('truncate', ['-s', '0', s.log]).status, 0);
  const c = await checkpoint(s);
  assert.equal(c.code, 11);
  assert.equal(c.incidents.length, 1);
  assert.equal(c.incidents[0].kind, 'truncated');
  assert.equal(c.incidents[0].offset, 0);
  assert.match(c.incidents[0].summary, new RegExp(`truncated without a rotation: ${size} → 0 bytes`));
  assert.equal(got.length, 1);
  const ev = JSON.parse(got[0]!);
  assert.equal(ev.event, 'log-integrity');
  assert.equal(ev.kind, 'truncated');
  assert.equal(ev.path, 'app.log');
  // From then on the log is tracked again from empty: appends are fine.
  appendFileSync(s.log, lines(8, 2));
  assert.deepEqual((await checkpoint(s)).incidents, []);
});

test('replaced by a fresh file, deleted, rewritten in place: each detected', async (t) => {
  const s = await setup({ keep: true });
  appendFileSync(s.log, lines(0, 6));
  await checkpoint(s);
  writeFileSync(join(s.dir, 'fresh'), 'boot\n');
  renameSync(join(s.dir, 'fresh'), s.log);
  const r = await checkpoint(s);
  assert.deepEqual(
    r.incidents.map((i) => i.kind),
    ['replaced'],
  );
  assert.equal(r.incidents[0].offset, 5);
  assert.equal(r.incidents[0].removed, lines(0, 6));

  appendFileSync(s.log, lines(50, 3));
  await checkpoint(s);
  // Same inode, same size: only a re-hash of the prefix sees it.
  const fd = spawnSync('dd', ['of=' + s.log, 'bs=1', 'seek=12', 'conv=notrunc', 'status=none'], { input: 'X' });
  assert.equal(fd.status, 0);
  const w = await checkpoint(s);
  assert.deepEqual(
    w.incidents.map((i) => i.kind),
    ['rewritten'],
  );
  assert.equal(w.incidents[0].offset, 12);

  rmSync(s.log);
  const d = await checkpoint(s);
  assert.deepEqual(
    d.incidents.map((i) => i.kind),
    ['deleted'],
  );
  const v = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(v.code, 11);
  assert.equal(v.json.logs[0].recorded.length, 3);
});

test('a policy rule with action: log takes the path out of the content tree and into tracking', async (t) => {
  const s = await setup({
    policy: 'rules:\n  - paths: ["audit/*.txt"]\n    action: log\nalert:\n  syslog: false\n',
  });
  mkdirSync(join(s.dir, 'audit'));
  writeFileSync(join(s.dir, 'audit', 'a.txt'), 'first\n');
  // An old rotated copy that was there before tracking: part of a.txt, not a log of its own.
  writeFileSync(join(s.dir, 'audit', 'a.txt.1.gz'), spawnSync('gzip', ['-c'], { input: 'old\n' }).stdout);
  assert.equal((await trail(s.home, ['snapshot'])).code, 0);
  const tree = git(s.repo, ['ls-tree', '-r', '--name-only', 'refs/heads/observed']).stdout.toString();
  assert.ok(!/audit\/a\.txt/.test(tree), tree);
  const c = await checkpoint(s);
  assert.ok(c.commit);
  const state = JSON.parse(git(s.repo, ['cat-file', 'blob', 'refs/trail/logs:logs.json']).stdout.toString());
  assert.deepEqual(Object.keys(state.files).sort(), ['app.log', 'audit/a.txt']);
  assert.equal(state.files['audit/a.txt'].current.length, 6);
  assert.ok(!/a\.txt\.1\.gz/.test(tree), tree);
});

test('a log is tracked from the moment it is configured; one configured but not yet there is "not tracked yet", exit 12', async (t) => {
  const s = await setup();
  // setup configured *.log: app.log was taken in by `config set` itself, before any checkpoint.
  const st = await trail(s.home, ['logs', 'status', '--json']);
  assert.deepEqual(
    st.json.logs.map((l: { path: string; tracked: boolean }) => [l.path, l.tracked]),
    [['app.log', true]],
  );
  const ok = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(ok.code, 0, ok.stdout);
  // A log the settings name that appears later, with no trail watch running: not vouched for.
  writeFileSync(join(s.dir, 'late.log'), 'written before anyone looked\n');
  const v = await trail(s.home, ['logs', 'verify']);
  assert.equal(v.code, 12, v.stdout + v.stderr);
  assert.match(v.stdout, /late\.log: not tracked yet/);
  const vj = await trail(s.home, ['logs', 'verify', '--json']);
  assert.equal(vj.code, 12);
  assert.equal(vj.json.logs.find((l: { path: string }) => l.path === 'late.log').status, 'untracked');
  // Tampering outranks it.
  writeFileSync(s.log, 'rewritten\n');
  assert.equal((await trail(s.home, ['logs', 'verify'])).code, 11);
  // Configuring it by name takes it in at once.
  const c = await trail(s.home, ['config', 'set', 'logs.paths', '*.log,late.log', '--json']);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(c.json.logsTakenIn, ['late.log']);
  const after = (await trail(s.home, ['logs', 'status', '--json'])).json.logs;
  assert.equal(after.find((l: { path: string }) => l.path === 'late.log').tracked, true);
});
