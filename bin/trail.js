#!/usr/bin/env node
// The trail command. The TypeScript sources are compiled to dist/src by `npm install`, which
// also bundles them into dist/trail.cjs with a V8 code cache (packaging/bundle.mjs): loading
// one pre-compiled file instead of ~90 modules saves ~40–80 ms of CPU at every start.
import { readFileSync, statSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const BUNDLE = fileURLToPath(new URL('../dist/trail.cjs', import.meta.url));
const COMPILED = new URL('../dist/src/cli/main.js', import.meta.url);

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

const { main } = loadBundle() ?? (await import(COMPILED.href));

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

main(process.argv.slice(2)).then(exit, (err) => {
  process.stderr.write(`trail: ${err?.stack ?? err}\n`);
  exit(1);
});
