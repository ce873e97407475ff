// Two `trail watch` processes started at once on the same trail (a unit and a forgotten
// foreground run): one writer at a time through the lock, nothing lost, nothing corrupted.
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Daemon, Fixture, scratch } from './helpers.js';

const tmp = scratch('two');
after(() => tmp.cleanup());

it('two daemons on one trail: every change recorded once the dust settles, fsck clean', async () => {
  const f = new Fixture(join(tmp.dir, 't'));
  mkdirSync(join(f.work, 'd'));
  writeFileSync(join(f.work, 'd', 'seed'), 'seed\n');
  await f.init();
  const a = new Daemon(f);
  const b = new Daemon(f);
  try {
    await Promise.all([a.started(), b.started()]);
    for (let i = 0; i < 60; i++) {
      writeFileSync(join(f.work, 'd', `f${i % 20}`), `version ${i}\n`);
      if (i % 15 === 0) writeFileSync(join(f.work, `top${i}`), `${i}\n`);
    }
    await f.waitInSync('both daemons settle on the disk state');
    const fsck = await f.fsck();
    assert.equal(fsck.code, 0, fsck.stderr);
    assert.ok(!a.stderr.includes('corrupt') && !b.stderr.includes('corrupt'));
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  // Both stopped cleanly, and the trail still matches the disk.
  await f.waitInSync('after both stopped');
});
