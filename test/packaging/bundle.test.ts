// The bundle bin/trail.js loads (packaging/bundle.mjs): that it is what runs, that it is
// skipped when stale or missing, that a cache V8 refuses costs nothing, and that modules
// bundled into it still find their files (templates, workers) beside the bundle, wherever
// the package was moved. Each case runs a copy of the package in a folder of its own.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { Module } from 'node:module';
import { join } from 'node:path';
import vm from 'node:vm';
import { ROOT, tempDir } from '../support/cli.js';

const tmp = tempDir('trail-bundle-');
after(() => tmp.cleanup());

/** A copy of what `npm install` leaves that trail runs from (node_modules linked). */
function copyPackage(name: string): string {
  const pkg = join(tmp.path, name);
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  for (const p of ['bin', 'templates', 'hooks', 'vendor', 'package.json'])
    cpSync(join(ROOT, p), join(pkg, p), { recursive: true });
  for (const p of ['src', 'trail.cjs', 'trail.cjs.cache'])
    cpSync(join(ROOT, 'dist', p), join(pkg, 'dist', p), { recursive: true, preserveTimestamps: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  return pkg;
}

function trailIn(pkg: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const home = join(pkg, 'home');
  const r = spawnSync(process.execPath, [join(pkg, 'bin', 'trail.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TRAIL_HOME: home, NO_COLOR: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const FAKE = "module.exports = { main: async () => { process.stdout.write('the bundle ran\\n'); return 0; } };\n";

test('the build made an ASCII bundle, and a cache that V8 accepts for the source bin/trail.js wraps', () => {
  const file = join(ROOT, 'dist', 'trail.cjs');
  // bin/trail.js reads it as latin1: one non-ASCII byte would change what runs.
  const bytes = readFileSync(file);
  assert.equal(
    bytes.findIndex((b) => b > 0x7f),
    -1,
    'dist/trail.cjs holds a non-ASCII byte',
  );
  const script = new vm.Script(Module.wrap(bytes.toString('latin1')), {
    filename: file,
    cachedData: readFileSync(file + '.cache'),
  });
  assert.equal(script.cachedDataRejected, false);
});

test('bin/trail.js runs the bundle; a stale or missing one gives way to dist/src; a refused cache changes nothing', () => {
  const pkg = copyPackage('load');
  const bundle = join(pkg, 'dist', 'trail.cjs');
  assert.equal(trailIn(pkg, ['--version']).stdout.trim(), version);

  // A bundle that says so: it is what runs (its old cache, for other source, is refused).
  writeFileSync(bundle, FAKE);
  let r = trailIn(pkg, ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'the bundle ran\n');
  // TRAIL_NO_BUNDLE=1: dist/src.
  assert.equal(trailIn(pkg, ['--version'], { TRAIL_NO_BUNDLE: '1' }).stdout.trim(), version);

  // Older than what tsc compiled last (a `tsc` alone after a build): not used.
  const past = new Date(Date.now() - 3600_000);
  utimesSync(bundle, past, past);
  r = trailIn(pkg, ['--version']);
  assert.equal(r.stdout.trim(), version, r.stderr);

  // Missing: dist/src, without a word.
  rmSync(bundle);
  r = trailIn(pkg, ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
  assert.equal(r.stderr, '');

  // The real bundle with a cache of garbage: V8 refuses it and compiles.
  cpSync(join(ROOT, 'dist', 'trail.cjs'), bundle);
  writeFileSync(bundle + '.cache', Buffer.alloc(4096, 7));
  r = trailIn(pkg, ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test('bundled modules find their own files beside the bundle: the unit template, worker threads', () => {
  const built = (p: string) => statSync(join(ROOT, 'dist', p)).mtimeMs;
  assert.ok(built('trail.cjs') >= built('src/cli/main.js'), 'dist/trail.cjs is older than dist/src: run npm run build');
  const pkg = copyPackage('moved');
  // Without the commands' modules in dist/src, only the bundle can answer.
  rmSync(join(pkg, 'dist', 'src', 'cli'), { recursive: true });
  const tree = join(tmp.path, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'sub', `f${i}`), `file ${i}\n`.repeat(i + 1));
  // The readers run in worker threads started from the module's own file in dist/src.
  let r = trailIn(pkg, ['init', tree, '--json'], { TRAIL_READ_THREADS: 'always' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).files, 40);
  r = trailIn(pkg, ['status', '--json'], { TRAIL_READ_THREADS: 'always', TRAIL_NO_WATCHER: '1' });
  assert.equal(JSON.parse(r.stdout).clean, true, r.stdout + r.stderr);
  // The unit names this copy's bin/trail.js, found from the template beside it.
  const units = join(tmp.path, 'units');
  r = trailIn(pkg, ['service', 'install', '--unit-dir', units, '--no-start']);
  assert.equal(r.code, 0, r.stderr);
  const unit = readFileSync(join(units, 'trail.service'), 'utf8');
  assert.match(unit, new RegExp(`${join(pkg, 'bin', 'trail.js').replaceAll('/', '\\/')}`));
});
