#!/usr/bin/env node
// The trail command. The TypeScript sources are compiled to dist/ by `npm install`.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`trail: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
