// kill -9 of `trail stamp` at random moments, and right as it writes the notes (git
// fast-import): the notes ref must be the old one or the new one, never a half-written tree;
// no commit may vanish; and the next run must stamp whatever is left, each commit once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { parseProof } from '../../src/anchor/proof-tree.js';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import {
  assertFsck,
  catObjects,
  childrenNamed,
  faultRounds,
  git,
  revParse,
  sandbox,
  spawnTrail,
  trailOk,
  untilChildRuns,
  waitExit,
} from '../support/hostile-cli.js';

/** Two rounds in three aim at the notes write itself, one kills at a random moment; odd rounds
 * kill the whole group (a power cut), even ones only trail. At least 3 (TRAIL_FAULT_ROUNDS
 * for a soak), so that the notes write meets both kinds of kill and a random moment one: a
 * fourth round (a random moment, trail only) cost a quarter of the test's CPU. */
const ROUNDS = Math.max(3, faultRounds());
const NOTES = 'refs/notes/trail-ots';
const BULK = 'refs/trail/bulk';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** n more commits on an anchored ref, through git itself (thousands of snapshots would take
 * minutes; the notes write only cares how many commits a batch holds). */
function addCommits(gitDir: string, n: number, round: number): void {
  const parent = revParse(gitDir, BULK);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = `round ${round} commit ${i}\n`;
    parts.push(
      `commit ${BULK}`,
      `committer t <t@localhost> ${1_700_000_000 + round * 10_000 + i} +0000`,
      'data 2',
      'c',
      ...(i === 0 && parent ? [`from ${parent}`] : []),
      `M 100644 inline f`,
      `data ${data.length}`,
      data,
    );
  }
  const r = git(gitDir, ['fast-import', '--quiet', '--date-format=raw'], parts.join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
}

/** Every commit of the anchored refs (what must never vanish). The proofs branch is not
 * anchored: it grows with each stamp (its own kill safety is publishProofs' CAS). */
function allCommits(gitDir: string): string[] {
  return git(gitDir, [
    'rev-list',
    '--exclude=proofs',
    '--branches',
    '--exclude=refs/trail/secrets',
    '--glob=refs/trail/*',
  ])
    .stdout.toString()
    .split('\n')
    .filter(Boolean)
    .sort();
}

function notes(gitDir: string): Map<string, string> {
  if (!revParse(gitDir, NOTES)) return new Map();
  const r = git(gitDir, ['notes', `--ref=${NOTES}`, 'list']);
  assert.equal(r.code, 0, r.stderr);
  return new Map(
    r.stdout
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').reverse() as [string, string]),
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test(
  'kill -9 during trail stamp and its notes write: notes ref old or new, never corrupt; the rerun stamps the rest',
  { timeout: 120_000 + ROUNDS * 60_000 },
  async (t) => {
    const sb = sandbox('trail-kill-notes-');
    const cal = await new OtsCalendarStub().start();
    t.after(async () => {
      await cal.stop();
      sb.cleanup();
    });
    writeFileSync(`${sb.dir}/hosts`, '127.0.0.1 localhost\n');
    await trailOk(sb, ['init', sb.dir, '--name', 'w']);
    await trailOk(sb, ['config', 'set', 'anchor.calendars', cal.url]);
    await trailOk(sb, ['config', 'set', 'anchor.minCalendars', '1']);

    // A batch large enough that writing its notes takes a while: the window the kills aim at.
    addCommits(sb.repo, 1500, 0);
    let started = Date.now();
    await trailOk(sb, ['stamp']);
    let full = Date.now() - started;
    const stats = { killedInNotesWrite: 0, killedElsewhere: 0, notesUnchanged: 0, notesAdvanced: 0 };

    for (let round = 1; round <= ROUNDS; round++) {
      addCommits(sb.repo, 1000, round);
      const commits = allCommits(sb.repo);
      const beforeTip = revParse(sb.repo, NOTES)!;
      const beforeNotes = notes(sb.repo);
      const child = spawnTrail(sb, ['stamp']);
      const atNotes = round % 3 !== 1;
      if (atNotes) {
        // Aim at git fast-import itself: as soon as it runs, after a random part of its work.
        await untilChildRuns(child, 'fast-import', 20_000);
        await sleep(Math.random() * 30);
      } else {
        await sleep(Math.random() * full);
      }
      const writers = childrenNamed(child.pid!, 'fast-import');
      if (child.exitCode === null) stats[writers.length ? 'killedInNotesWrite' : 'killedElsewhere']++;
      // Half the time the whole group dies (a power cut), half only trail: then fast-import
      // sees its input end without "done" and must not update the ref.
      try {
        process.kill(round % 2 === 1 ? -child.pid! : child.pid!, 'SIGKILL');
      } catch {
        /* ended */
      }
      await waitExit(child);
      for (let i = 0; i < 5000 && writers.some(alive); i++) await sleep(2);

      assertFsck(sb.repo);
      assert.deepEqual(allCommits(sb.repo), commits, 'no commit vanished');
      const tip = revParse(sb.repo, NOTES)!;
      const after = notes(sb.repo);
      if (tip === beforeTip) {
        stats.notesUnchanged++;
        assert.deepEqual(after, beforeNotes);
      } else {
        // One notes commit per batch, on top of the old one, holding every old note.
        stats.notesAdvanced++;
        assert.equal(revParse(sb.repo, `${tip}^`), beforeTip);
        for (const [c, blob] of beforeNotes) assert.equal(after.get(c), blob, `the note of ${c} changed`);
      }
      // Every note there is is a proof of exactly its commit.
      const byBlob = catObjects(sb.repo, [...after.values()]);
      for (const [c, blob] of after)
        assert.equal(Buffer.from(parseProof(byBlob.get(blob)!).fileDigest()).toString('hex'), c);

      // The next run takes over the dead one's lock and stamps what is left, exactly once.
      started = Date.now();
      await trailOk(sb, ['stamp']);
      full = Math.max(full, Date.now() - started);
      const done = notes(sb.repo);
      assert.deepEqual([...done.keys()].sort(), commits);
      for (const [c, blob] of after)
        assert.equal(done.get(c), blob, 'a proof written before the kill is kept, not stamped again');
      assertFsck(sb.repo);
    }
    // The proofs branch, killed as often as the notes: it holds every note's proof, the same
    // bytes (a proof published just before a kill was replaced when its commit was stamped again).
    const onBranch = new Map(
      git(sb.repo, ['ls-tree', '-r', 'refs/heads/proofs'])
        .stdout.toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => [
          l
            .split('\t')[1]!
            .replace('/', '')
            .replace(/\.ots$/, ''),
          l.split(' ')[2]!.split('\t')[0]!,
        ]),
    );
    for (const [c, blob] of notes(sb.repo)) assert.equal(onBranch.get(c), blob, `the proof of ${c} on the branch`);
    // Pending (10): every proof there, none in a block yet; nothing failed.
    const v = await trailOk(sb, ['verify', '--offline', '--no-disk'], { codes: [10] });
    assert.match(
      v.text,
      /^pending: [\d,]+ commits — 0 anchored in Bitcoin, [\d,]+ pending, 0 failed/,
      v.text.slice(0, 2000),
    );
    assert.ok(stats.killedInNotesWrite > 0, `no kill landed in the notes write: ${JSON.stringify(stats)}`);
    t.diagnostic(JSON.stringify({ rounds: ROUNDS, ...stats }));
  },
);
