#!/usr/bin/env node
// The trail command. The TypeScript sources are compiled to dist/src by `npm install`, which
// also bundles them into dist/trail.cjs with a V8 code cache (packaging/bundle.mjs): loading
// one pre-compiled file instead of ~90 modules saves ~40–80 ms of CPU at every start.
//
// This file is CommonJS (bin/package.json): as an ES module, its own imports of five built-in
// modules started Node's ES module loader at every command, ~7–9 ms of a `trail --version`
// that takes ~40 ms (perf stat, 6 alternating rounds of 60 runs).
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { createRequire, Module } = require('node:module');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'trail.cjs');
const COMPILED = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');

/** The bundle's exports; undefined when there is none, or when it is older than what tsc
 * compiled last (a `tsc` alone after `npm run build`): then dist/src runs, as it is.
 * TRAIL_NO_BUNDLE=1 runs dist/src too (a debugger, a stack trace by source file). */
function loadBundle() {
  if (process.env.TRAIL_NO_BUNDLE === '1') return;
  let src;
  try {
    if (statSync(BUNDLE).mtimeMs < (statSync(COMPILED, { throwIfNoEntry: false })?.mtimeMs ?? 0)) return;
    // ASCII, made so by the build: latin1 reads it into a one-byte string, no UTF-8 decoding.
    src = readFileSync(BUNDLE, 'latin1');
  } catch {
    return;
  }
  let cachedData;
  try {
    cachedData = readFileSync(BUNDLE + '.cache');
  } catch {
    // No cache: V8 compiles the source, as for any script.
  }
  // Wrapped and given what CommonJS gives a module, as Node's own loader would; the cache was
  // made from the same wrapped source. A cache of another V8 is rejected and ignored.
  const script = new vm.Script(Module.wrap(src), {
    filename: BUNDLE,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  script
    .runInThisContext()
    .call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return module.exports;
}

// Output to a pipe is written asynchronously: exit only once it has all gone out, or a large
// --json answer reaches the reader cut short.
function exit(code) {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

(async () => {
  const { main } = loadBundle() ?? (await import(pathToFileURL(COMPILED).href));
  return main(process.argv.slice(2));
})().then(exit, (err) => {
  process.stderr.write(`trail: ${err?.stack ?? err}\n`);
  exit(1);
});
