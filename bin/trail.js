#!/usr/bin/env node
// The trail command. The TypeScript sources are compiled to dist/ by `npm install`.
import { main } from '../dist/src/cli/main.js';

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
