// Random indexes for the stat index check in C (src/record/list/index-check.c): names with
// NULs, slashes and dots, counts that do not match them, NaN and random numbers, any thread
// count, roots that exist or not, and calls with wrong arguments (which must throw). Run
// under AddressSanitizer and UBSan as README.md says; any report ends the run.
'use strict';
const { randomBytes, randomInt } = require('node:crypto');

const addon = require(process.argv[2] ?? '/tmp/index-check-asan.node');
const runs = Number(process.argv[3] ?? 20000);

(async () => {
  let same = 0;
  for (let i = 0; i < runs; i++) {
    const names = randomBytes(randomInt(0, 200));
    for (let k = 0; k < names.length; k++) names[k] = [0, 47, 46][randomInt(0, 10)] ?? names[k];
    const count = randomInt(0, 12);
    const stats = new Float64Array(count * 5).map(() => (Math.random() < 0.1 ? NaN : randomInt(0, 1e9)));
    const root = ['/etc', '/nonexistent', '/', '/tmp'][i % 4];
    if (await addon.check(root, names, count, stats, randomInt(-2, 70))) same++;
  }
  const wrong = [
    [],
    ['/etc'],
    ['/etc', 'not a buffer', 1, new Float64Array(5), 1],
    ['/etc', Buffer.alloc(0), 1, new Float64Array(4), 1],
    ['/etc', Buffer.alloc(0), -1, new Float64Array(0), 1],
    [1, Buffer.alloc(0), 0, new Float64Array(0), 1],
  ];
  for (const args of wrong) {
    let threw = false;
    try {
      await addon.check(...args);
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`check(${args.length} arguments) did not throw`);
  }
  console.log(`${runs} random indexes checked (${same} answered "same"), ${wrong.length} wrong calls refused`);
})();
