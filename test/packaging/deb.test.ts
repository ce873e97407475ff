// The Debian package, for real: `npm run deb`'s builder makes the .deb from the code `npm test`
// has just compiled, apt-get installs it into this system, and everything after that goes
// through /usr/bin/trail only: version, init and status of a scratch tree, the man page,
// bash completion, the unit and apt hook it writes; then apt-get remove (no unit or hook
// left, the trails kept), a reinstall over the existing /var/lib/trail (the trail goes on),
// and purge (says what it keeps). lintian checks the package meanwhile.
//
// It changes the real system, as root: it runs only where nothing of trail's is installed
// (no trail package, no /var/lib/trail with content, no unit or apt hook of trail's), and
// purges and deletes what it made at the end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APT_HOOK_LOCK, holdHostLock } from '../support/host-lock.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VAR_LIB = '/var/lib/trail';
const UNIT = '/etc/systemd/system/trail.service';
const HOOK = '/etc/apt/apt.conf.d/80trail';
const BIN = '/usr/bin/trail';
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A program with an argument array, asynchronously (lintian runs beside the rest); an
 * `undefined` in `env` takes that variable away. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const all: NodeJS.ProcessEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NO_COLOR: '1', ...env };
    for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
    const child = spawn(cmd, args, {
      env: all,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;
}

/** apt-get waits for a lock another apt holds (the machine may be busy) instead of failing. */
function apt(args: string[]): Promise<Ran> {
  return run('apt-get', ['-y', '-q', '-o', 'DPkg::Lock::Timeout=300', ...args]);
}

function installed(): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Status}', 'trail'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === 'installed';
}

/** Why this host cannot run the test, or undefined. */
function reasonToSkip(): string | undefined {
  if (!has('dpkg-deb') || !has('apt-get')) return 'dpkg-deb or apt-get not found: not a Debian system';
  if (process.getuid?.() !== 0) return 'installs a package into the system: needs root';
  const known = spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Status}', 'trail'], { encoding: 'utf8' });
  if (known.status === 0 && known.stdout.trim() !== 'not-installed')
    return `a trail package is already on this host (${known.stdout.trim()}): the test would replace it`;
  if (existsSync(BIN)) return `${BIN} exists and is not from a trail package: the test would replace it`;
  if (existsSync(VAR_LIB) && readdirSync(VAR_LIB).length > 0)
    return `${VAR_LIB} exists with content this test did not make: it is never touched`;
  for (const f of [UNIT, HOOK]) if (existsSync(f)) return `${f} exists: the test would remove it`;
  const node = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'nodejs'], { encoding: 'utf8' });
  if (node.status !== 0 || !node.stdout.trim())
    return 'Node.js is not from a nodejs package here: apt-get cannot satisfy Depends: nodejs (>= 20.19)';
  return undefined;
}

// The host's one apt hook file: test/attribute/audit.test.ts installs its own there for a
// while. Held from before the look at it (found there, this test would skip) to the end.
const releaseHook = await holdHostLock(APT_HOOK_LOCK, 'exclusive');
const skip = reasonToSkip();
const madeVarLib = !existsSync(VAR_LIB);
const tmp = mkdtempSync(join(tmpdir(), 'trail-deb-test-'));

after(async () => {
  // Whatever happened above: the package purged, what it or the test wrote removed.
  if (!skip) {
    if (installed() || existsSync(BIN)) await apt(['purge', 'trail']);
    for (const f of [UNIT, HOOK]) {
      if (existsSync(f) && readFileSync(f, 'utf8').includes('/usr/lib/trail/')) rmSync(f);
    }
    if (madeVarLib) rmSync(VAR_LIB, { recursive: true, force: true });
  }
  releaseHook();
  rmSync(tmp, { recursive: true, force: true });
});

test('the .deb installs, runs, removes, reinstalls and purges cleanly', { skip }, async (t) => {
  // Where the time goes, in the test's output (the machine is shared: no assertion on it).
  let t0 = Date.now();
  const took = (what: string) => {
    t.diagnostic(`${what}: ${Date.now() - t0} ms`);
    t0 = Date.now();
  };
  for (const tool of ['man', 'bash'])
    assert.ok(has(tool), `${tool} is needed (.ci/run installs man-db and bash-completion)`);

  // Built from dist/src, which npm test has just compiled.
  const built = await run(process.execPath, [join(ROOT, 'packaging', 'build-deb.mjs'), '--no-compile', '--out', tmp]);
  assert.equal(built.code, 0, built.stderr);
  const deb = built.stdout.trim();
  const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(deb, join(tmp, `trail_${version}-1_${arch}.deb`));
  took('build');
  // lintian leaves its mldbm-elf-* folders in TMPDIR: in the test's folder, they go with it.
  const lintianTmp = join(tmp, 'lintian-tmp');
  mkdirSync(lintianTmp);
  const lintian = has('lintian') ? run('lintian', ['--fail-on', 'error', deb], { TMPDIR: lintianTmp }) : undefined;

  const inst = await apt(['install', '--no-install-recommends', deb]);
  assert.equal(inst.code, 0, inst.stdout + inst.stderr);
  assert.ok(installed());

  took('apt-get install');
  const home = join(tmp, 'home');
  const tree = join(tmp, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(tree, 'sub', 'app.conf'), 'workers = 4\n');
  const trail = (args: string[], env: NodeJS.ProcessEnv = { TRAIL_HOME: home }) => run(BIN, args, env);

  const v = await trail(['--version']);
  assert.equal(v.stdout.trim(), version, v.stderr);
  const init = await trail(['init', tree, '--json']);
  assert.equal(init.code, 0, init.stderr);
  assert.ok(existsSync(join(home, 'trails.json')), 'TRAIL_HOME holds the host state');
  const name = JSON.parse(init.stdout).name as string;
  const clean = await trail(['status', '--name', name]);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  // The stat index is checked in C (/usr/lib/trail/dist/index-check.node): a tree this small
  // takes that path when the threads are forced, and TRAIL_TIMING says which check ran.
  const timed = await trail(['status', '--name', name], {
    TRAIL_HOME: home,
    TRAIL_READ_THREADS: 'always',
    TRAIL_TIMING: '1',
  });
  assert.equal(timed.code, 0, timed.stderr);
  assert.match(timed.stderr, /stat index loaded/);
  assert.doesNotMatch(timed.stderr, /checked in JavaScript/);
  writeFileSync(join(tree, 'sub', 'app.conf'), 'workers = 8\n');
  const dirty = await trail(['status', '--name', name, '--json']);
  assert.equal(dirty.code, 3, dirty.stdout + dirty.stderr);
  assert.match(dirty.stdout, /sub\/app\.conf/);

  // /usr/bin/trail is the native front: with trail watch running, it answers status without
  // Node.js (a Node.js started with this NODE_OPTIONS would fail at once).
  assert.equal(readFileSync(BIN).subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal((await trail(['--name', name, 'config', 'set', 'attribute.audit', 'off'])).code, 0);
  const watch = spawn(BIN, ['watch', '--name', name], { env: { ...process.env, TRAIL_HOME: home }, stdio: 'ignore' });
  try {
    const sock = join(home, 'run', `${name}.sock`);
    for (let i = 0; i < 600 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const noNode = { TRAIL_HOME: home, NODE_OPTIONS: `--require=${join(tmp, 'no-such-module.js')}` };
    const asked = await trail(['status', '--name', name, '--json'], noNode);
    // (its start-up has recorded the change above: clean)
    assert.equal(asked.code, 0, asked.stdout + asked.stderr);
    assert.deepEqual(JSON.parse(asked.stdout).answeredBy, { watcher: watch.pid });
    const handed = await trail(['--version'], noNode);
    assert.match(handed.stderr, /no-such-module/, 'the control: what the front hands over starts Node.js');
  } finally {
    if (watch.exitCode === null && watch.signalCode === null) {
      const exited = new Promise((r) => watch.once('exit', r));
      watch.kill('SIGTERM');
      await exited;
    }
  }

  // The manual, rendered by man from where the package put it.
  const man = await run('man', ['trail'], { MANPAGER: 'cat', MANWIDTH: '100', LANG: 'C.UTF-8' });
  assert.equal(man.code, 0, man.stderr);
  for (const heading of ['SYNOPSIS', 'COMMANDS', 'EXIT STATUS', 'CONFIGURATION', 'FILES'])
    assert.match(man.stdout, new RegExp(`^${heading}$`, 'm'));
  assert.match(man.stdout, /trail init \[options\] <dir>/, "the commands' own help is in it");
  assert.match(man.stdout, /anchor\.timeoutMs/, "the README's configuration table is in it");

  // Completion: loads in bash and completes a command.
  const bash = await run('bash', [
    '-c',
    'source /usr/share/bash-completion/completions/trail && complete -p trail && ' +
      'COMP_WORDS=(trail ini) COMP_CWORD=1 && _trail && echo "${COMPREPLY[*]}"',
  ]);
  assert.equal(bash.code, 0, bash.stderr);
  assert.match(bash.stdout, /^complete .*-F _trail trail$/m);
  assert.match(bash.stdout, /^init$/m);
  assert.ok(existsSync('/usr/share/zsh/vendor-completions/_trail'));

  // The unit and the apt hook, written by the installed trail, name the installed paths.
  const svc = await trail(['service', 'install', '--no-start']);
  assert.equal(svc.code, 0, svc.stderr);
  const unit = readFileSync(UNIT, 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/node --max-semi-space-size=2 \/usr\/lib\/trail\/bin\/trail\.js watch$/m);
  const hooks = await trail(['hooks', 'install']);
  assert.equal(hooks.code, 0, hooks.stderr);
  assert.match(readFileSync(HOOK, 'utf8'), /\/usr\/lib\/trail\/hooks\/apt\/trail-apt-hook packages /);

  // A second trail in the default home (/var/lib/trail, absent before this test).
  const etc = join(tmp, 'etc');
  mkdirSync(etc);
  writeFileSync(join(etc, 'motd'), 'hello\n');
  const sys = (args: string[]) => trail(args, { TRAIL_HOME: undefined });
  const sysInit = await sys(['init', etc, '--json']);
  assert.equal(sysInit.code, 0, sysInit.stderr);
  const { repo, commit: firstCommit, name: etcName } = JSON.parse(sysInit.stdout) as Record<string, string>;
  assert.ok(repo!.startsWith(VAR_LIB + '/'), repo);

  took('trail, man, completion');
  // Remove: no unit, no hook, no code; the trails stay.
  const rm = await apt(['remove', 'trail']);
  assert.equal(rm.code, 0, rm.stdout + rm.stderr);
  assert.doesNotMatch(rm.stdout + rm.stderr, /not found/, 'the apt hook does not complain once its script is gone');
  for (const gone of [BIN, '/usr/lib/trail']) assert.ok(!existsSync(gone), `${gone} is left behind`);
  // test/attribute/audit.test.ts writes its own apt hook at the same path; should it run
  // meanwhile, its file is not this package's to remove: only ours must be gone.
  for (const f of [UNIT, HOOK])
    assert.ok(!existsSync(f) || !readFileSync(f, 'utf8').includes('/usr/lib/trail/'), `${f} is left behind`);
  assert.ok(existsSync(join(home, 'trails.json')));
  assert.ok(existsSync(join(repo!, 'HEAD')), 'the shadow repository in /var/lib/trail is kept');

  took('apt-get remove');
  // Reinstall over the existing /var/lib/trail: the trail goes on from where it was.
  const again = await apt(['install', '--no-install-recommends', deb]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const list = await sys(['list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.stdout.includes(JSON.stringify(etcName)), list.stdout);
  writeFileSync(join(etc, 'motd'), 'hello again\n');
  const snap = await sys(['snapshot', '--name', etcName!, '-m', 'after the reinstall', '--json']);
  assert.equal(snap.code, 0, snap.stderr);
  const log = await sys(['log', '--name', etcName!, '--json']);
  assert.equal(log.code, 0, log.stderr);
  assert.ok(log.stdout.includes(firstCommit!), 'the commit from before the removal is still in the trail');
  assert.match(log.stdout, /after the reinstall/);

  took('reinstall and trail');
  // Purge: says what it keeps; deletes only trail's scratch.
  mkdirSync(join(VAR_LIB, 'apt'), { recursive: true });
  const purge = await apt(['purge', 'trail']);
  assert.equal(purge.code, 0, purge.stdout + purge.stderr);
  assert.match(purge.stdout + purge.stderr, /purge keeps \/var\/lib\/trail/);
  assert.ok(!existsSync(join(VAR_LIB, 'apt')));
  assert.ok(existsSync(join(repo!, 'HEAD')), 'purge keeps the trails');
  assert.ok(!installed());

  took('apt-get purge');
  if (lintian) {
    const l = await lintian;
    assert.equal(l.code, 0, `lintian reports errors:\n${l.stdout}${l.stderr}`);
    assert.doesNotMatch(l.stdout, /^E: /m, l.stdout);
    took('lintian (beside the rest)');
  }
});
