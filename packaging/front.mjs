// Compiles trail's native front (src/cli/front/front.c) to dist/trail: `trail status` and
// `trail snapshot` answered by a running `trail watch` without starting Node.js, everything
// else handed to bin/trail.js. Run by `npm run build`, `npm install` (prepare) and `npm test`.
//
//   node packaging/front.mjs [--out FILE] [--trail-js PATH] [--node PATH] [--require]
//
// --trail-js and --node make the handing over absolute (the Debian package: /usr/bin/node on
// /usr/lib/trail/bin/trail.js); without them the front runs bin/trail.js beside its own folder
// with the first node on PATH. Without a C compiler it says so and builds nothing, and trail
// works as before through bin/trail.js (--require: fail instead, for the package build).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const arg = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const out = resolve(arg('--out') ?? join(ROOT, 'dist', 'trail'));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const cc = process.env.CC || 'cc';

// A C string literal for the compiler's -D: the values are paths and a version, checked here
// rather than escaped.
const literal = (s) => {
  if (!/^[\w./+-]+$/.test(s)) throw new Error(`front: unexpected characters in ${JSON.stringify(s)}`);
  return `"${s}"`;
};
const defines = [`-DTRAIL_VERSION=${literal(version)}`];
if (arg('--trail-js')) defines.push(`-DTRAIL_JS=${literal(arg('--trail-js'))}`);
if (arg('--node')) defines.push(`-DNODE_PATH=${literal(arg('--node'))}`);

// Debian's hardening flags (dpkg-buildflags with hardening=+all), which lintian checks.
const flags = [
  '-std=c11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-D_FORTIFY_SOURCE=2',
  '-fstack-protector-strong',
  '-fstack-clash-protection',
  '-fPIE',
  '-pie',
  '-Wl,-z,relro,-z,now',
];
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp${process.pid}`;
try {
  execFileSync(cc, [...flags, ...defines, '-o', tmp, join(ROOT, 'src', 'cli', 'front', 'front.c')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  renameSync(tmp, out);
} catch (err) {
  rmSync(tmp, { force: true });
  // A front of another build would hand over anyway (it checks the daemon's version), but it
  // should not outlive the sources it was made from.
  rmSync(out, { force: true });
  if (args.includes('--require') || err.code !== 'ENOENT') throw err;
  process.stderr.write(`trail: no C compiler (${cc}): dist/trail, the fast front for status and snapshot, is not built; bin/trail.js does everything\n`);
}
