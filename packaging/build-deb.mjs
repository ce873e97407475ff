// `npm run deb`: builds trail_<version>-1_<arch>.deb with dpkg-deb and prints its path.
//
//   node packaging/build-deb.mjs [--no-compile] [--out DIR]
//
// --no-compile takes the JavaScript already in dist/src (what `npm test` has just built)
// instead of compiling src/ again. The layout follows what Debian expects of a tool:
//   /usr/lib/trail/            bin/trail.js, dist/src (JavaScript only), hooks/, templates/,
//                              vendor/opentimestamps, package.json, production node_modules
//   /usr/lib/trail/dist/index-check.node   the stat index checked in C (packaging/native.mjs)
//   /usr/bin/trail             the native front (packaging/native.mjs): status and snapshot
//                              answered by trail watch, everything else handed to
//                              /usr/bin/node on /usr/lib/trail/bin/trail.js
//   /usr/share/man/man1/trail.1.gz, bash and zsh completion, /usr/share/doc/trail/
// The production node_modules is a fresh `npm ci --omit=dev` from the lockfile (npm's cache
// first), without install scripts, type declarations or source maps (never loaded).
// No debhelper: the package is two small C programs, architecture-independent files and four
// maintainer scripts. Building it needs a C compiler and binutils (strip, objdump).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { manPage } from './man-page.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HERE = join(ROOT, 'packaging');
const args = process.argv.slice(2);
const compile = !args.includes('--no-compile');
const outDir = resolve(args.includes('--out') ? args[args.indexOf('--out') + 1] : join(ROOT, 'build'));

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const version = `${pkg.version}-1`;
// Reproducible: dates come from the last commit unless SOURCE_DATE_EPOCH says otherwise.
const epoch = Number(
  process.env.SOURCE_DATE_EPOCH || git(['log', '-1', '--format=%ct']) || Math.floor(Date.now() / 1000),
);
process.env.SOURCE_DATE_EPOCH = String(epoch);
const MAINTAINER = 'trail maintainers <maintainers@users.noreply.r-seed-e30dd767.example>';

const MIT_TEXT = [
  'Permission is hereby granted, free of charge, to any person obtaining a copy of this',
  'software and associated documentation files (the "Software"), to deal in the Software',
  'without restriction, including without limitation the rights to use, copy, modify, merge,',
  'publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons',
  'to whom the Software is furnished to do so, subject to the following conditions:',
  '.',
  'The above copyright notice and this permission notice shall be included in all copies or',
  'substantial portions of the Software.',
  '.',
  'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,',
  'INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR',
  'PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE',
  'FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR',
  'OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER',
  'DEALINGS IN THE SOFTWARE.',
]
  .map((l) => ' ' + l)
  .join('\n');

const ISC_TEXT = [
  'Permission to use, copy, modify, and/or distribute this software for any purpose with or',
  'without fee is hereby granted, provided that the above copyright notice and this permission',
  'notice appear in all copies.',
  '.',
  'THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS',
  'SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL',
  'THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY',
  'DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF',
  'CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE',
  'OR PERFORMANCE OF THIS SOFTWARE.',
]
  .map((l) => ' ' + l)
  .join('\n');

function git(a) {
  try {
    return execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function run(cmd, a, opts = {}) {
  return execFileSync(cmd, a, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
}

function walk(dir, fn) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, fn);
    fn(p, e);
  }
}

function gz(data) {
  return gzipSync(data, { level: 9 }); // Node writes no name and mtime 0: reproducible
}

const work = mkdtempSync(join(tmpdir(), 'trail-deb-'));
try {
  const root = join(work, 'root');
  const lib = join(root, 'usr', 'lib', 'trail');
  mkdirSync(lib, { recursive: true });

  // 1. The compiled code.
  let distSrc = join(ROOT, 'dist', 'src');
  if (compile) {
    const out = join(work, 'tsc');
    run(process.execPath, [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(HERE, 'tsconfig.json'),
      '--outDir',
      out,
    ]);
    distSrc = join(out, 'src');
  } else if (!existsSync(join(distSrc, 'cli', 'main.js'))) {
    throw new Error(`--no-compile, but ${distSrc} has no compiled code: run npx tsc first`);
  }
  cpSync(distSrc, join(lib, 'dist', 'src'), { recursive: true, filter: (p) => !p.endsWith('.map') });
  for (const p of ['bin', 'hooks', 'templates', join('vendor', 'opentimestamps'), 'package.json'])
    cpSync(join(ROOT, p), join(lib, p), { recursive: true });

  // 2. Production dependencies from the lockfile.
  const npmDir = join(work, 'npm');
  mkdirSync(npmDir);
  for (const p of ['package.json', 'package-lock.json', join('vendor', 'fs-stub')])
    cpSync(join(ROOT, p), join(npmDir, p), { recursive: true });
  run(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
    {
      cwd: npmDir,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  renameSync(join(npmDir, 'node_modules'), join(lib, 'node_modules'));
  // Type declarations, source maps and the packages' own documentation are never loaded;
  // licence files stay beside their code (debian/copyright points to them).
  walk(join(lib, 'node_modules'), (p, e) => {
    if (
      e.isFile() &&
      /\.(d\.[cm]?ts|map)$|^(README|CHANGELOG|HISTORY|CODE_OF_CONDUCT|SECURITY|CONTRIBUTING)(\.|$)/i.test(e.name)
    )
      rmSync(p);
    else if (e.isDirectory() && readdirSync(p).length === 0) rmSync(p, { recursive: true });
  });
  rmSync(join(lib, 'node_modules', '.package-lock.json'), { force: true });
  // The bundle bin/trail.js loads (packaging/bundle.mjs), made from the code above and its
  // production dependencies, with its code cache.
  run(process.execPath, [join(HERE, 'bundle.mjs'), join(lib, 'dist')]);

  // 3. Modes: directories 0755, files 0644, programs 0755.
  walk(lib, (p, e) => chmodSync(p, e.isDirectory() ? 0o755 : 0o644));
  // A bundled package's own command (yaml's bin.mjs) keeps its #! and is executable, as npm
  // would leave it; nothing links it onto the PATH.
  walk(join(lib, 'node_modules'), (p, e) => {
    if (e.isFile() && readFileSync(p).subarray(0, 2).toString() === '#!') chmodSync(p, 0o755);
  });
  for (const p of [
    'bin/trail.js',
    'hooks/apt/trail-apt-hook',
    ...readdirSync(join(lib, 'hooks', 'examples')).map((f) => `hooks/examples/${f}`),
  ])
    chmodSync(join(lib, p), 0o755);
  const usrBin = join(root, 'usr', 'bin');
  mkdirSync(usrBin, { recursive: true });
  const front = join(usrBin, 'trail');
  const addon = join(lib, 'dist', 'index-check.node');
  const absolute = ['--trail-js', '/usr/lib/trail/bin/trail.js', '--node', '/usr/bin/node'];
  run(process.execPath, [join(HERE, 'native.mjs'), '--front', front, '--addon', addon, ...absolute, '--require']);
  for (const [file, mode] of [
    [front, 0o755],
    [addon, 0o644], // loaded by Node.js, not run
  ]) {
    run('strip', ['--strip-unneeded', '--remove-section=.comment', file]);
    chmodSync(file, mode);
  }
  // The C library they need: the newest GLIBC_x.y symbol version they link against.
  const glibc = [front, addon]
    .flatMap((f) => [...run('objdump', ['-T', f]).matchAll(/GLIBC_(\d+)\.(\d+)/g)])
    .map((m) => [Number(m[1]), Number(m[2])])
    .sort((a, b) => b[0] - a[0] || b[1] - a[1])[0];
  if (!glibc) throw new Error('objdump names no GLIBC version for usr/bin/trail');
  const arch = run('dpkg', ['--print-architecture']).trim();

  // 4. What the built trail says about itself: version, completion, manual.
  const scratch = join(work, 'home');
  mkdirSync(scratch);
  const staged = (a) =>
    run(process.execPath, [join(lib, 'bin', 'trail.js'), ...a], {
      env: { ...process.env, TRAIL_HOME: scratch, HOME: scratch, NO_COLOR: '1' },
    });
  const said = staged(['--version']).trim();
  if (said !== pkg.version) throw new Error(`trail --version says ${said}, package.json ${pkg.version}`);
  const share = join(root, 'usr', 'share');
  const put = (rel, data, mode = 0o644) => {
    mkdirSync(dirname(join(share, rel)), { recursive: true });
    writeFileSync(join(share, rel), data, { mode });
  };
  put('bash-completion/completions/trail', staged(['completion', 'bash']));
  put('zsh/vendor-completions/_trail', staged(['completion', 'zsh']));
  const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
  put('man/man1/trail.1.gz', gz(await manPage(lib, README)));

  // 5. Documentation and licences.
  put('doc/trail/README.md.gz', gz(README));
  put('doc/trail/changelog.gz', gz(readFileSync(join(ROOT, 'CHANGELOG.md'))));
  const date = new Date(epoch * 1000)
    .toUTCString()
    .replace(/GMT$/, '+0000')
    .replace(/^(\w+),/, '$1,');
  put(
    'doc/trail/changelog.Debian.gz',
    gz(
      `trail (${version}) unstable; urgency=medium\n\n` +
        `  * Built from the upstream sources by packaging/build-deb.mjs; the upstream\n` +
        `    changes are in changelog.gz.\n\n -- ${MAINTAINER}  ${date}\n`,
    ),
  );
  put('doc/trail/copyright', copyright(join(lib, 'node_modules')));
  put('lintian/overrides/trail', readFileSync(join(HERE, 'debian', 'lintian-overrides')));
  walk(share, (p, e) => chmodSync(p, e.isDirectory() ? 0o755 : 0o644));

  // 6. Control files.
  const debian = join(root, 'DEBIAN');
  mkdirSync(debian);
  let kib = 0;
  const sums = [];
  walk(root, (p, e) => {
    if (p.startsWith(debian)) return;
    if (e.isFile()) {
      kib += Math.ceil(statSync(p).size / 1024);
      sums.push(`${createHash('md5').update(readFileSync(p)).digest('hex')}  ${relative(root, p)}`);
    } else kib += 1;
  });
  writeFileSync(
    join(debian, 'control'),
    readFileSync(join(HERE, 'debian', 'control.in'), 'utf8')
      .replace('@VERSION@', version)
      .replace('@ARCH@', arch)
      .replace('@LIBC@', `libc6 (>= ${glibc.join('.')})`)
      .replace('@MAINTAINER@', MAINTAINER)
      .replace('@INSTALLED_SIZE@', String(kib)),
  );
  writeFileSync(join(debian, 'md5sums'), sums.sort().join('\n') + '\n');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(HERE, 'debian', s), join(debian, s));
    chmodSync(join(debian, s), 0o755);
  }
  chmodSync(join(debian, 'control'), 0o644);
  chmodSync(join(debian, 'md5sums'), 0o644);
  walk(root, (p, e) => e.isDirectory() && chmodSync(p, 0o755));
  chmodSync(root, 0o755);

  // 7. The package.
  mkdirSync(outDir, { recursive: true });
  const deb = join(outDir, `trail_${version}_${arch}.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.stdout.write(deb + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** debian/copyright (machine-readable format): trail, the vendored OpenTimestamps code, and
 * one paragraph per bundled npm package with the licence its package.json names. */
function copyright(nodeModules) {
  const byLicense = new Map();
  const seen = new Set();
  walk(nodeModules, (p, e) => {
    if (!e.isFile() || e.name !== 'package.json') return;
    const dir = dirname(p);
    if (!/node_modules\/(@[^/]+\/)?[^/@]+$/.test(dir) || seen.has(dir)) return;
    const m = JSON.parse(readFileSync(p, 'utf8'));
    if (!m.name || !m.version) return;
    seen.add(dir);
    const lic = typeof m.license === 'string' ? m.license : 'unknown';
    if (!byLicense.has(lic)) byLicense.set(lic, []);
    byLicense.get(lic).push(`usr/lib/trail/${relative(join(nodeModules, '..'), dir)}/*`);
  });
  const known = {
    MIT: MIT_TEXT,
    ISC: ISC_TEXT,
    'Apache-2.0':
      ' On Debian systems, the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.',
  };
  for (const lic of byLicense.keys())
    if (!known[lic]) throw new Error(`no licence text for ${lic}: add it to build-deb.mjs`);
  const paras = [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: trail\n' +
      'Comment: Bundled npm packages keep their own licence files next to their code.',
    `Files: *\nCopyright: ${new Date(epoch * 1000).getUTCFullYear()} the trail maintainers\nLicense: Apache-2.0`,
    'Files: usr/lib/trail/vendor/opentimestamps/*\nCopyright: 2017-2020 EternityWall and the OpenTimestamps contributors\n' +
      'License: LGPL-3.0+\nComment: Eight files of the opentimestamps npm package 0.4.9; see its README.md.',
    ...[...byLicense].map(
      ([lic, files]) =>
        `Files:\n ${files.sort().join('\n ')}\nCopyright: their authors (see each package)\nLicense: ${lic}`,
    ),
    `License: Apache-2.0\n${known['Apache-2.0']}`,
    'License: LGPL-3.0+\n On Debian systems, the full text of the GNU Lesser General Public License\n version 3 is in /usr/share/common-licenses/LGPL-3.',
    ...[...byLicense.keys()].filter((l) => l !== 'Apache-2.0').map((l) => `License: ${l}\n${known[l]}`),
  ];
  return paras.join('\n\n') + '\n';
}
