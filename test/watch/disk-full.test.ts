// The shadow repository's disk fills up while trail watch runs: it says so, keeps running,
// loses no change, and records everything once space returns. The repository lives on its
// own small tmpfs so that "full" is real (ENOSPC from the kernel) and nothing else is hurt.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, Fixture, scratch } from './helpers.js';

const root = process.getuid?.() === 0;

/** Fills the filesystem of `dir` to the last block: returns the filler file. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (let size = chunk.length; size >= 1; size = Math.floor(size / 2)) {
      try {
        for (;;) writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

test(
  'a full disk under the shadow repository: logged, nothing lost, caught up when space returns',
  { skip: root ? false : 'mounting a tmpfs needs root' },
  async (t) => {
    const s = scratch('diskfull');
    const mnt = join(s.dir, 'repo-fs');
    let d: Daemon | undefined;
    // In this order: the daemon out of the repository, the mount away, then the files.
    t.after(async () => {
      await d?.stop();
      if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
      s.cleanup();
    });
    // The shadow repository alone on a 4 MB tmpfs.
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
    assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
    const f = new Fixture(s.dir, 'w', join(mnt, 'w.git'));
    for (let i = 0; i < 20; i++) writeFileSync(join(f.work, `f${i}.conf`), `setting ${i}\n`);
    await f.init();

    d = new Daemon(f);
    await d.started();

    const filler = fill(mnt);
    const from = d.lines.length;
    // Changes while the disk is full: bigger than any space left over.
    for (let i = 0; i < 20; i++)
      writeFileSync(join(f.work, `f${i}.conf`), `changed while full ${i}\n${'x'.repeat(20_000)}\n`);
    writeFileSync(join(f.work, 'new-while-full.conf'), 'new\n');
    rmSync(join(f.work, 'f19.conf'));
    const failed = await d.waitLog('a commit failure naming the full disk', (l) => l.event === 'commit-failed', from);
    assert.match(failed.msg, /could not record changes \(no space left for the shadow repository\); retrying in \d+ s/);
    assert.equal(failed.level, 'error');
    // Still running, and the trail still holds only what was there before.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      d.lines.some((l) => l.event === 'stop'),
      false,
      'the daemon stopped on a full disk',
    );
    assert.equal((await f.trailFiles()).has('new-while-full.conf'), false);
    assert.equal((await f.fsck()).code, 0, 'the repository is damaged after writes failed with ENOSPC');

    rmSync(filler);
    await d.waitLog('recording to work again', (l) => l.event === 'recovered', from);
    await f.waitInSync('every change made while the disk was full to be in the trail');
    const fsck = await f.fsck();
    assert.equal(fsck.code, 0, fsck.stderr.toString());
    const commits = await f.commits();
    assert.ok(
      commits.some((c) => c.action === 'watch' && /new-while-full\.conf|changes/.test(c.subject)),
      commits.map((c) => c.subject).join('\n'),
    );
  },
);
