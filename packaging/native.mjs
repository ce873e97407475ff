// Compiles trail's native parts, each optional (trail works without them, more slowly):
//   - the front (src/cli/front/front.c) to dist/trail: `trail status` and `trail snapshot`
//     answered by a running `trail watch` without starting Node.js, everything else handed to
//     bin/trail.js;
//   - the index check (src/record/list/index-check.c), a Node-API addon, to
//     dist/index-check.node: `trail status` without a daemon checks the stat index in C.
// Run by `npm run build`, `npm install` (prepare) and `npm test`.
//
//   node packaging/native.mjs [--front FILE] [--addon FILE] [--trail-js PATH] [--node PATH] [--require]
//
// --trail-js and --node make the front's handing over absolute (the Debian package:
// /usr/bin/node on /usr/lib/trail/bin/trail.js); without them the front runs bin/trail.js
// beside its own folder with the first node on PATH. Without a C compiler (or, for the addon,
// Node.js's headers) it says so and builds nothing (--require: fail instead, for the package).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const arg = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const required = args.includes('--require');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const cc = process.env.CC || 'cc';

// A C string literal for the compiler's -D: the values are paths and a version, checked here
// rather than escaped.
const literal = (s) => {
  if (!/^[\w./+-]+$/.test(s)) throw new Error(`native: unexpected characters in ${JSON.stringify(s)}`);
  return `"${s}"`;
};

// Debian's hardening flags (dpkg-buildflags with hardening=+all), which lintian checks.
const hardening = [
  '-std=c11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-D_FORTIFY_SOURCE=2',
  '-fstack-protector-strong',
  '-fstack-clash-protection',
  '-Wl,-z,relro,-z,now',
];

/** Compiles to `out` through a temporary file; without a compiler (or `missing` said) it
 * says so and leaves nothing at `out`. A build that fails for another reason fails. */
function compile(out, what, flags, source, missing) {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp${process.pid}`;
  try {
    if (missing) throw Object.assign(new Error(missing), { code: 'ENOENT' });
    execFileSync(cc, [...hardening, ...flags, '-o', tmp, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    // A file of another build should not outlive the sources it was made from.
    rmSync(out, { force: true });
    if (required || err.code !== 'ENOENT') throw err;
    process.stderr.write(`trail: ${missing ?? `no C compiler (${cc})`}: ${what}\n`);
  }
}

const defines = [`-DTRAIL_VERSION=${literal(version)}`];
if (arg('--trail-js')) defines.push(`-DTRAIL_JS=${literal(arg('--trail-js'))}`);
if (arg('--node')) defines.push(`-DNODE_PATH=${literal(arg('--node'))}`);
compile(
  resolve(arg('--front') ?? join(ROOT, 'dist', 'trail')),
  'dist/trail, the fast front for status and snapshot, is not built; bin/trail.js does everything',
  ['-fPIE', '-pie', ...defines],
  join(ROOT, 'src', 'cli', 'front', 'front.c'),
);

// Node.js's own headers: beside the running node (an official build, nvm), or Debian's.
const headers = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node'].find((d) =>
  existsSync(join(d, 'node_api.h')),
);
compile(
  resolve(arg('--addon') ?? join(ROOT, 'dist', 'index-check.node')),
  'dist/index-check.node is not built; trail status checks the stat index in JavaScript',
  // -ffp-contract=off: milliseconds computed as Node.js computes them (index-check.c).
  ['-fPIC', '-shared', '-pthread', '-ffp-contract=off', `-I${headers}`],
  join(ROOT, 'src', 'record', 'list', 'index-check.c'),
  headers ? undefined : 'no Node.js headers (node_api.h)',
);
