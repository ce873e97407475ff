#!/usr/bin/env node
// Bundles the compiled command (dist/src, what tsc has just written) into one CommonJS file,
// dist/trail.cjs, with a V8 code cache beside it (dist/trail.cjs.cache), which bin/trail.js
// loads instead of ~90 ES modules. Why: every start of trail paid for resolving, reading and
// linking those modules, and compiling them from scratch: ~40–80 ms of CPU of a `trail
// status` or `trail snapshot` (README, "Design"). Node 20 has no compile cache of its own.
//
//   node packaging/bundle.mjs [DIST]   (part of `npm run build`, `npm test` and `npm install`;
//                                       DIST: another dist folder, the Debian package's)
//
// What runs as a file of its own keeps running from dist/src: worker threads, the anchor job
// and the repack child are started by path, and the templates, hooks and vendored code are
// found relative to the module that uses them. So `import.meta.url` in each bundled module
// is replaced by the URL of that module's own file in dist/src, not the bundle's.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Module } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = resolve(process.argv[2] ?? join(ROOT, 'dist'));
const OUT = join(DIST, 'trail.cjs');

// Each module's import.meta.url, as the URL of its file beside the bundle (the bundle may be
// moved with dist/, as the Debian package does: nothing absolute is baked in).
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    const own = new RegExp(`^${join(DIST, 'src').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*\\.js$`);
    b.onLoad({ filter: own }, (args) => {
      const rel = relative(DIST, args.path);
      const text = readFileSync(args.path, 'utf8');
      return {
        contents: text.replaceAll('import.meta.url', `__trailModuleUrl(${JSON.stringify(rel)})`),
        loader: 'js',
      };
    });
  },
};

rmSync(OUT, { force: true });
rmSync(OUT + '.cache', { force: true });
const result = await build({
  entryPoints: [join(DIST, 'src', 'cli', 'main.js')],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  charset: 'ascii',
  // Dependencies are bundled too (commander, picomatch, octokit, chokidar): they are part of
  // every start. What is loaded by a computed path (yaml, through createRequire) stays a
  // runtime require, resolved from the module's own folder in dist/src.
  banner: {
    js:
      '"use strict";\n' +
      'const __trailModuleUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;',
  },
  plugins: [ownUrl],
  logLevel: 'silent',
});
// A warning here is a module the bundle would run differently than dist/src does
// (import.meta in a dependency, a require it cannot follow): fail, do not ship it.
if (result.warnings.length) {
  for (const w of result.warnings) console.error(`bundle: ${w.text} (${w.location?.file}:${w.location?.line})`);
  rmSync(OUT, { force: true });
  process.exit(1);
}

// An ASCII file: bin/trail.js reads it as latin1, a one-byte string made in ~1 ms. A single
// non-ASCII byte sends a read as UTF-8 down the slow decoder and makes a two-byte string:
// ~25 ms to read, ~17–20 ms of CPU of a whole start, measured. esbuild escapes strings and identifiers already
// (charset: ascii); what is left is in comments, where an escape changes nothing.
const text = readFileSync(OUT, 'utf8').replace(
  /[^\x00-\x7f]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
);
writeFileSync(OUT, text);
// The code cache: V8's compiled form of the bundle's top level and what it pre-parsed, made
// here once so that no run of trail ever writes beside its own code. bin/trail.js wraps the
// source the same way (Module.wrap); a Node whose V8 differs rejects the cache and compiles.
const script = new vm.Script(Module.wrap(text), { filename: OUT });
writeFileSync(OUT + '.cache', script.createCachedData());
