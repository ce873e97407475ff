// What the trail process loads when it anchors: stamp, upgrade and verify through the real
// binary against the local calendar and explorer, with every CommonJS module it loaded
// written out at exit. `request` (deprecated; CVE-2023-28155) and the rest of the
// opentimestamps package's HTTP and CLI dependencies must not be among them, although this
// development install still has them on disk (the package is the tests' reference client).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { trail, initTrail } from '../support/cli.js';
import { anchorStubs } from '../support/anchor-stubs.js';

const { cal, esplora } = anchorStubs();

const NEVER = ['request', 'request-promise', 'bitcore-lib', 'moment', 'moment-timezone', 'lodash', 'opentimestamps'];

/** Runs trail with a preload that lists require.cache (every CommonJS module) at exit. */
async function modulesLoadedBy(home: string, tmp: string, args: string[]): Promise<string[]> {
  const out = join(tmp, `modules-${args[0]}.json`);
  const preload = join(tmp, 'list-modules.cjs');
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))));\n`,
  );
  const r = await trail(home, [...args, '--json'], { env: { NODE_OPTIONS: `--require ${preload}` } });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

/** The package a module file belongs to (the last node_modules/<name> in its path). */
function packageOf(file: string): string | undefined {
  const m = /.*[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file);
  return m?.[1];
}

test('stamping, upgrading and verifying load no request, bitcore-lib, moment or lodash', async (t) => {
  // The check can fail: in this development install the packages it looks for are on disk.
  const here = createRequire(import.meta.url);
  assert.ok(existsSync(here.resolve('opentimestamps/package.json')), 'the reference package is installed');

  const { tmp, home } = await initTrail(t, { hosts: '127.0.0.1 localhost\n' });
  for (const [k, v] of [
    ['anchor.calendars', cal.url],
    ['anchor.minCalendars', '1'],
    ['anchor.esplora', esplora.url],
  ]) {
    assert.equal((await trail(home, ['config', 'set', k!, v!])).code, 0);
  }
  const stamped = await modulesLoadedBy(home, tmp, ['stamp']);
  assert.ok(cal.counts.digest > 0, 'the calendar was asked');
  esplora.addBlock(cal.mine(820_000, Math.floor(Date.now() / 1000)));
  const upgraded = await modulesLoadedBy(home, tmp, ['upgrade']);
  assert.ok(cal.counts.timestamp > 0, 'the calendar was asked for the upgrade');
  const verified = await modulesLoadedBy(home, tmp, ['verify']);

  for (const [what, files] of [
    ['stamp', stamped],
    ['upgrade', upgraded],
    ['verify', verified],
  ] as const) {
    // The format code came from trail's own copy: the list is the real one.
    assert.ok(
      files.some((f) => /vendor[\\/]opentimestamps[\\/]src[\\/]timestamp\.js$/.test(f)),
      `${what}: the vendored format code is loaded`,
    );
    const packages = new Set(files.map(packageOf).filter((p): p is string => !!p));
    for (const name of NEVER) assert.ok(!packages.has(name), `${what} loaded ${name}`);
  }
});
