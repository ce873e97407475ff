// kill -9 of `trail watch`'s whole process group (the daemon, its git children and its
// anchoring process) at random moments while files change and commits are being made and
// stamped, as a crash or a power cut would (issue 18): the next command succeeds, git fsck is
// clean, nothing recorded before the kill is lost, and the trail holds the disk exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import {
  assertFsck,
  gitLocks,
  BIN,
  faultRounds,
  git,
  killGroup,
  lsTree,
  revParse,
  sandbox,
  trailOk,
  walkDisk,
} from '../support/hostile-cli.js';

const ROUNDS = faultRounds();
const OBSERVED = 'refs/heads/observed';
const NOTES = 'refs/notes/trail-ots';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function notes(gitDir: string): Map<string, string> {
  if (!revParse(gitDir, NOTES)) return new Map();
  const out = git(gitDir, ['notes', `--ref=${NOTES}`, 'list']).stdout.toString();
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').reverse() as [string, string]),
  );
}

test(
  'kill -9 of trail watch at random moments: the next command succeeds, fsck is clean, nothing recorded is lost',
  { timeout: 120_000 + ROUNDS * 40_000 },
  async (t) => {
    const sb = sandbox('trail-kill-watch-');
    const cal = await new OtsCalendarStub().start();
    t.after(async () => {
      await cal.stop();
      sb.cleanup();
    });
    for (let i = 0; i < 40; i++) {
      mkdirSync(join(sb.dir, `d${i % 4}`), { recursive: true });
      writeFileSync(join(sb.dir, `d${i % 4}`, `f${i}`), `v0 ${i}\n`);
    }
    await trailOk(sb, ['init', sb.dir, '--name', 'w']);
    for (const [k, v] of Object.entries({
      'attribute.audit': 'off',
      'watch.quietMs': '50',
      'watch.maxDelayMs': '300',
      'anchor.calendars': cal.url,
      'anchor.minCalendars': '1',
      'anchor.batchSeconds': '1',
      'anchor.timeoutMs': '5000',
    }))
      await trailOk(sb, ['config', 'set', k, v, '--name', 'w']);

    const stats = { rounds: ROUNDS, commitsBeforeKill: 0, staleGitLocksRemoved: 0, locksLeftByKill: 0 };
    let version = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const ctx = `round ${round}`;
      const headBefore = revParse(sb.repo, OBSERVED)!;
      const child = spawn(process.execPath, [BIN, 'watch', '--name', 'w', '--json'], {
        env: sb.env,
        cwd: sb.base,
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true, // its own process group: the kill takes its git children and anchoring along
      });
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      const started = Date.now();
      while (!/"event":"start"/.test(out)) {
        assert.equal(child.exitCode, null, `${ctx}: trail watch ended before it started:\n${out}`);
        assert.ok(Date.now() - started < 60_000, `${ctx}: trail watch did not start:\n${out}`);
        await sleep(20);
      }
      // Changes in bursts until the kill: commits, ref moves and stamps are all under way.
      const until = Date.now() + 300 + Math.random() * 2500;
      while (Date.now() < until) {
        version++;
        for (let k = 0; k < 3; k++) {
          const i = Math.floor(Math.random() * 40);
          writeFileSync(join(sb.dir, `d${i % 4}`, `f${i}`), `v${version} ${i}\n`);
        }
        if (version % 7 === 0) writeFileSync(join(sb.dir, `new${version}`), `${version}\n`);
        await sleep(5 + Math.random() * 60);
      }
      const recorded = revParse(sb.repo, OBSERVED)!;
      const notesBefore = notes(sb.repo);
      await killGroup(child);
      if (recorded !== headBefore) stats.commitsBeforeKill++;
      stats.locksLeftByKill += gitLocks(sb.repo).length;

      // The next command succeeds and records what the dead daemon had not.
      const next = await trailOk(sb, ['snapshot', '--name', 'w', '--json'], { timeoutMs: 60_000 });
      stats.staleGitLocksRemoved += (next.stderr.toString().match(/removed a stale git lock/g) ?? []).length;
      assertFsck(sb.repo);
      assert.deepEqual(gitLocks(sb.repo), [], `${ctx}: git locks left after the next command`);
      const head = revParse(sb.repo, OBSERVED)!;
      // Nothing recorded is lost: what observed held at the kill is in the history after it.
      assert.equal(git(sb.repo, ['merge-base', '--is-ancestor', recorded, head]).code, 0, `${ctx}: history lost`);
      for (const [c, blob] of notesBefore) assert.equal(notes(sb.repo).get(c), blob, `${ctx}: the proof of ${c} lost`);
      // And the trail holds the disk exactly.
      const tree = lsTree(sb.repo, OBSERVED);
      for (const [p, e] of walkDisk(sb.dir)) {
        if (p === '' || e.kind !== 'file') continue;
        assert.ok(tree.has(p), `${ctx}: ${p} not recorded`);
      }
      const st = await trailOk(sb, ['status', '--full', '--name', 'w', '--json']);
      assert.equal(st.json.clean, true, `${ctx}: ${JSON.stringify(st.json.changes).slice(0, 500)}`);
    }
    // Stamping goes on from where the kills left it: every commit gets its proof.
    await trailOk(sb, ['stamp', '--name', 'w']);
    const all = git(sb.repo, ['rev-list', OBSERVED]).stdout.toString().split('\n').filter(Boolean);
    const proofs = notes(sb.repo);
    assert.deepEqual(
      all.filter((c) => !proofs.has(c)),
      [],
      'commits without a proof',
    );
    assertFsck(sb.repo);
    // A kill that never came after a commit tested little.
    assert.ok(stats.commitsBeforeKill > 0, JSON.stringify(stats));
    t.diagnostic(JSON.stringify(stats));
  },
);
