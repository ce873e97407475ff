// kill -9 of `trail push` at random moments (git push over HTTP to a local git http-backend,
// trail's branches and the proof notes): the local trail is untouched, GitHub's copy is
// whole and holds only commits the host has, and the next push completes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../../support/cli.js';
import { OtsCalendarStub } from '../../support/ots-calendar.js';
import { assertFsck, childrenNamed, untilChildRuns, faultRounds, waitExit } from '../../support/hostile-cli.js';
import { FULL, git, shadowRef, world } from './helpers.js';

/** At least 4: a kill must land inside a push in some round. */
const ROUNDS = Math.max(4, faultRounds());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(
  'kill -9 during trail push: local refs and notes untouched, GitHub whole, the rerun pushes everything',
  { timeout: 120_000 + ROUNDS * 60_000 },
  async (t) => {
    const w = await world(t);
    const cal = await new OtsCalendarStub().start();
    t.after(() => cal.stop());
    const h = await w.addHost('web1');
    for (const [k, v] of [
      ['anchor.calendars', cal.url],
      ['anchor.minCalendars', '1'],
    ])
      assert.equal((await h.run(['config', 'set', k!, v!])).code, 0);
    const env = { ...process.env, TRAIL_HOME: h.home, GITHUB_TOKEN: w.bot.token, TRAIL_GITHUB_BACKOFF_MS: '50' };
    const local = () =>
      Object.fromEntries(
        ['refs/heads/observed', 'refs/heads/approved', 'refs/notes/trail-ots'].map((r) => [r, shadowRef(h, r)]),
      );
    // The notes go to refs/notes/<prefix>/ots: not a branch, so no one merges or reviews them.
    const remoteRef = (name: string) => {
      if (name !== 'notes') return w.gh.ref(FULL, `${h.prefix}/${name}`);
      const r = w.gh.gitIn(FULL, ['rev-parse', '--verify', '--quiet', `refs/notes/${h.prefix}/ots`]);
      return r.code === 0 ? r.out : undefined;
    };

    /** New content outside the review rules (no PR), incompressible so that a push takes a
     * while; then a commit and its proof, so observed and the notes both move. */
    let n = 0;
    const change = async () => {
      mkdirSync(join(h.dir, 'data'), { recursive: true });
      for (let i = 0; i < 8; i++) writeFileSync(join(h.dir, 'data', `blob${n++}`), randomBytes(512 * 1024));
      assert.equal((await h.run(['snapshot'])).code, 0);
      assert.equal((await h.run(['stamp'])).code, 0);
    };

    await change();
    let started = Date.now();
    assert.equal((await h.run(['push'])).code, 0);
    let full = Date.now() - started;
    let killedMidway = 0;

    for (let round = 1; round <= ROUNDS; round++) {
      await change();
      const before = local();
      const commits = git(h.repo, ['rev-list', '--all']).stdout.toString().split('\n').filter(Boolean).sort();
      const child = spawn(process.execPath, [BIN, 'push'], { env, detached: true, stdio: 'ignore' });
      if (round === 1) {
        // One kill sure to land inside a push, whatever the load: as soon as it runs git. The
        // first push's time alone is no guide on a busy machine (kill-sync missed every kill
        // that way once in a full run).
        await untilChildRuns(child, 'git', 10 * full);
      } else await sleep(Math.random() * full);
      if (child.exitCode === null) killedMidway++;
      // The whole group (trail, git push, git-remote-http) as a crash would take it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* ended */
      }
      await waitExit(child);
      // A real server drops a request whose client vanished; the fake GitHub's CGI would wait
      // for the rest of the body for ever (and keep this test process alive).
      for (const pid of childrenNamed(process.pid, 'http-backend'))
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* ended */
        }

      // Pushing never writes the local trail.
      assertFsck(h.repo);
      assert.deepEqual(local(), before);
      assert.deepEqual(
        git(h.repo, ['rev-list', '--all']).stdout.toString().split('\n').filter(Boolean).sort(),
        commits,
      );
      // GitHub's side: whole, and each of trail's branches either its old tip or a commit the
      // host has (a ref is updated only after its objects are all there).
      const fsck = w.gh.gitIn(FULL, ['fsck', '--strict', '--no-dangling', '--no-progress']);
      assert.equal(fsck.code, 0, fsck.err);
      for (const [name, ref] of [
        ['observed', 'refs/heads/observed'],
        ['approved', 'refs/heads/approved'],
        ['notes', 'refs/notes/trail-ots'],
      ] as const) {
        const there = remoteRef(name);
        if (there)
          assert.equal(
            git(h.repo, ['merge-base', '--is-ancestor', there, before[ref]!]).code,
            0,
            `${name} on GitHub is not in the local history`,
          );
      }
      // The next push completes it.
      started = Date.now();
      const again = await h.run(['push']);
      assert.equal(again.code, 0, again.stderr);
      full = Math.max(full, Date.now() - started);
      assert.equal(remoteRef('observed'), before['refs/heads/observed']);
      assert.equal(remoteRef('approved'), before['refs/heads/approved']);
      assert.equal(remoteRef('notes'), before['refs/notes/trail-ots']);
    }
    // A kill that never landed inside a push tested nothing.
    assert.ok(killedMidway > 0, 'every push had finished before its kill');
    t.diagnostic(JSON.stringify({ rounds: ROUNDS, killedMidway }));
  },
);
