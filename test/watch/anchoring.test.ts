// trail watch stamps its commits through the anchoring process (src/anchor/anchor-job.ts),
// with the real opentimestamps code against the local calendar, once their batch window
// closes — and asks the calendars nothing while there is nothing new to stamp.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import { processes } from '../support/procs.js';
import { Daemon, Fixture, scratch, sleep, waitFor } from './helpers.js';

const tmp = scratch('anchoring');
const cal = new OtsCalendarStub();
before(() => cal.start());
after(async () => {
  await cal.stop();
  tmp.cleanup();
});

it('stamps the commits it makes once the batch window closes, and only then asks a calendar', async () => {
  const f = new Fixture(tmp.dir);
  writeFileSync(join(f.work, 'hosts'), '127.0.0.1 localhost\n');
  await f.init({
    'attribute.audit': 'off',
    'anchor.calendars': cal.url,
    'anchor.minCalendars': '1',
    'anchor.batchSeconds': '1',
    'anchor.timeoutMs': '2000',
  });
  const d = new Daemon(f);
  let commit = '';
  try {
    await d.started();
    await d.waitLog('the first batch to be stamped', (l) => l.event === 'stamped');
    const from = d.lines.length;
    writeFileSync(join(f.work, 'hosts'), '127.0.0.1 localhost\n10.0.0.1 db\n');
    commit = (await d.waitLog('the change to be committed', (l) => l.event === 'commit', from)).commit as string;
    await waitFor(
      'a proof of the new commit',
      async () => (await f.git(['notes', '--ref', 'refs/notes/trail-ots', 'list', commit], [0, 1])).code === 0,
      60_000,
    );
    // Nothing new: a few more ticks of the anchoring timer send nothing.
    await sleep(500);
    const asked = cal.counts.digest;
    await sleep(3500);
    assert.equal(cal.counts.digest, asked, 'no stamp request without new commits');
    assert.ok(
      !d.lines.some((l) => l.event === 'anchor-failed'),
      d.lines
        .filter((l) => l.event === 'anchor-failed')
        .map((l) => l.msg)
        .join('\n'),
    );
  } finally {
    await d.stop();
  }
  // Every commit up to the change has its proof (what the daemon made while it ran).
  const history = (await f.git(['rev-list', commit])).stdout.toString().trim().split('\n');
  const noted = new Set(
    (await f.git(['notes', '--ref', 'refs/notes/trail-ots', 'list'])).stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[1]),
  );
  assert.deepEqual(
    history.filter((c) => !noted.has(c)),
    [],
  );
  assert.equal((await f.fsck()).code, 0);
});

/** Pids of anchoring processes working on `gitDir` (read from /proc, no tool of trail's). */
function anchorJobs(gitDir: string): number[] {
  return processes((argv) => argv.includes('anchor-job') && argv.includes(gitDir)).map((p) => p.pid);
}

it('ends a stamp that is still waiting for a slow calendar when it stops', async () => {
  const f = new Fixture(join(tmp.dir, 'slow'));
  writeFileSync(join(f.work, 'hosts'), '127.0.0.1 localhost\n');
  await f.init({
    'attribute.audit': 'off',
    'anchor.calendars': cal.url,
    'anchor.minCalendars': '1',
    'anchor.batchSeconds': '1',
    'anchor.timeoutMs': '60000',
  });
  cal.mode = 'slow';
  cal.slowMs = 60_000;
  const d = new Daemon(f);
  try {
    await d.started();
    await waitFor('an anchoring process waiting for the calendar', () => anchorJobs(f.gitDir).length > 0, 30_000);
  } finally {
    const exit = await d.stop();
    cal.mode = 'ok';
    assert.equal(exit.code, 0);
  }
  // Ended by the daemon as it stops, not left to die of a broken pipe later (~350 ms after).
  await waitFor('the anchoring process to end with the daemon', () => anchorJobs(f.gitDir).length === 0, 100);
  assert.equal((await f.fsck()).code, 0);
});
