// Faults for the shadow repository core (issue 2, "Bad input"): the shadow repository's
// disk full (a real small tmpfs), and kill -9 during init, snapshot and revert. Each test
// drives the real CLI and checks with real git and the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  assertFsck,
  assertSameDisk,
  catObjects,
  faultRounds,
  killGroup,
  lsTree,
  revParse,
  sandbox,
  spawnTrail,
  trail,
  trailOk,
  walkDisk,
  type Sandbox,
} from '../support/hostile-cli.js';

/** Rounds of each kill -9 test (see faultRounds; the journal recovery itself is also tested
 * deterministically in test/cli/history.test.ts). */
const ROUNDS = faultRounds();
/** A soak run's rounds take their time: the limit grows with them, generously (it only
 * catches a hang; 30 s a round was too little for a soak on a busy 2-core machine). */
const LIMIT = 60_000 + ROUNDS * 90_000;

const OBSERVED = 'refs/heads/observed';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file of the watched dir is in the trail's last commit with its exact bytes. */
function assertRecorded(sb: Sandbox, gitDir: string): void {
  const tree = lsTree(gitDir, OBSERVED);
  const disk = walkDisk(sb.dir);
  const problems: string[] = [];
  const files = [...disk].filter(([p, e]) => p !== '' && e.kind === 'file').map(([p]) => p);
  // Every blob in one git: one per file cost seconds per round.
  const blobs = catObjects(
    gitDir,
    files.flatMap((p) => (tree.get(p)?.type === 'blob' ? [tree.get(p)!.oid] : [])),
  );
  for (const p of files) {
    const row = tree.get(p);
    if (!row || row.type !== 'blob') {
      problems.push(`${p} not recorded`);
      continue;
    }
    if (!blobs.get(row.oid)?.equals(readFileSync(Buffer.from(sb.dir + '/' + p, 'latin1'))))
      problems.push(`${p} recorded with other content`);
  }
  for (const [p, row] of tree)
    if (row.type === 'blob' && !p.startsWith('.trail/') && !disk.has(p)) problems.push(`${p} recorded but not on disk`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} difference(s) between the disk and the trail`);
}

/** Leftovers that a failed command must not leave in the repository. After kill -9, temp
 * files are allowed (git gc removes old tmp_obj_* as it does git's own) but not locks. */
function leftovers(gitDir: string, killed = false): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) visit(p);
      else if ((killed ? /\.lock$/ : /\.lock$|^tmp_|\.tmp\./).test(e.name)) found.push(p.slice(gitDir.length + 1));
    }
  };
  visit(gitDir);
  return found;
}

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  assert.equal(r.status, 0, `mount tmpfs: ${r.stderr}`);
}

function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** Fills the filesystem of `dir` with one file, then frees `leave` bytes of it. */
function fill(file: string, leave: number): void {
  const fd = openSync(file, 'w');
  const chunk = randomBytes(64 * 1024);
  try {
    for (let small = false; ;) {
      try {
        writeSync(fd, chunk, 0, small ? 4096 : chunk.length);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        if (small) break;
        small = true;
      }
    }
    ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leave));
  } finally {
    closeSync(fd);
  }
}

test(
  "the shadow repository's disk full: fails cleanly, the repo stays valid, the next run records everything",
  { timeout: 120_000 },
  async () => {
    const sb = sandbox();
    const mnt = join(sb.base, 'mnt');
    mountTmpfs(mnt, '2m');
    try {
      const gitDir = join(mnt, 'w.git');
      for (let i = 0; i < 20; i++) writeFileSync(join(sb.dir, `f${i}`), `file ${i}\n`);
      await trailOk(sb, ['init', sb.dir, '--name', 'w', '--repo', gitDir, '--json']);
      const filler = join(mnt, 'filler');

      // Run out of space at different points of a snapshot: objects, commit, ref, index.
      let failures = 0;
      for (const [round, free] of [0, 4, 8, 12, 16, 20, 24, 32, 48, 64, 96].entries()) {
        // The last round's file goes in this round's snapshot (a snapshot of its own per round
        // only to record its removal cost a trail run each): this one then also records a
        // removal, and the check after it that nothing absent from the disk is in the trail.
        rmSync(join(sb.dir, `big${round - 1}`), { force: true });
        writeFileSync(join(sb.dir, 'counter'), `round ${round}\n`);
        writeFileSync(join(sb.dir, `big${round}`), randomBytes(free * 1024 + 8192)); // never fits
        const before = revParse(gitDir, OBSERVED);
        fill(filler, free * 1024);
        const r = await trail(sb, ['snapshot', '--name', 'w', '--json']);
        rmSync(filler);
        const ctx = `free ${free} KiB: exit ${r.code}\n${r.text}`;
        assert.equal(r.signal, null, ctx);
        assertFsck(gitDir);
        if (r.code === 0) {
          // It fitted after all: then it is recorded, and said so.
          assert.equal(revParse(gitDir, OBSERVED), r.json.commit, ctx);
        } else {
          failures++;
          assert.match(r.stderr.toString(), /no space left/i, ctx);
          assert.doesNotMatch(r.stderr.toString(), /^\s+at /m, `a stack trace instead of a message: ${ctx}`);
          assert.match(String(r.json?.error?.message), /no space left/i, ctx);
          assert.equal(revParse(gitDir, OBSERVED), before, `the trail moved although the command failed: ${ctx}`);
          assert.deepEqual(leftovers(gitDir), [], `leftovers after a failed snapshot: ${ctx}`);
        }
        // With room again, the next snapshot records everything.
        const ok = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
        assert.ok(ok.json.commit, ctx);
        assertRecorded(sb, gitDir);
      }
      assert.ok(failures > 0);
      const st = await trailOk(sb, ['status', '--full', '--name', 'w', '--json']);
      assert.equal(st.json.clean, true);
      assertFsck(gitDir);
    } finally {
      unmount(mnt);
      sb.cleanup();
    }
  },
);

/** What a killed init left in its repository, for a failure's message: the names at the top
 * and in trail/, the lock's text, the refs. (Seen once in a soak: the next init found the
 * repository "not empty" and not an interrupted init; this says why, next time.) */
function leftBehind(repo: string): string {
  const ls = (d: string) => {
    try {
      return readdirSync(d).join(' ');
    } catch (err) {
      return String(err);
    }
  };
  let lock = '(none)';
  try {
    lock = readFileSync(join(repo, 'trail', 'lock'), 'utf8');
  } catch {
    /* none */
  }
  const refs = spawnSync('git', ['--git-dir', repo, 'for-each-ref'], { encoding: 'utf8' });
  return `left behind: ${ls(repo)}\ntrail/: ${ls(join(repo, 'trail'))}\nlock: ${lock}\nrefs: ${refs.stdout}${refs.stderr}`;
}

/** A tree of `n` small files in a few folders. */
function makeTree(dir: string, n: number, tag: string): void {
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${i % 10}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}`), `${tag} ${i}\n`);
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await fn();
  return Date.now() - t;
}

test('kill -9 during init: the next init or command repairs or uses what is left', { timeout: LIMIT }, async () => {
  const base = sandbox();
  makeTree(base.dir, 300, 'init');
  const full = await timed(() => trailOk(base, ['init', base.dir, '--name', 'w']));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const sb: Sandbox = {
        ...base,
        home: join(base.base, `home${round}`),
        repo: join(base.base, `home${round}`, 'w.git'),
        env: { ...base.env, TRAIL_HOME: join(base.base, `home${round}`) },
      };
      const child = spawnTrail(sb, ['init', sb.dir, '--name', 'w']);
      await sleep(Math.floor(Math.random() * full * 1.2));
      await killGroup(child);
      const ctx = `round ${round}`;
      const again = await trail(sb, ['init', sb.dir, '--name', 'w', '--json']);
      if (again.code !== 0 && !/already initialized/.test(again.text))
        assert.fail(`${ctx}: init after a killed init:\n${again.text}\n${leftBehind(sb.repo)}`);
      const st = await trailOk(sb, ['status', '--name', 'w', '--json']);
      assert.equal(st.json.clean, true, ctx);
      assertFsck(sb.repo);
      assert.equal(revParse(sb.repo, 'refs/heads/approved') !== undefined, true, `${ctx}: no approved baseline`);
      assertRecorded(sb, sb.repo);
      const snap = await trailOk(sb, ['snapshot', '--name', 'w', '--json']);
      assert.equal(snap.json.commit, null, `${ctx}: a snapshot right after init found changes`);
    }
  } finally {
    base.cleanup();
  }
});

test(
  'kill -9 during snapshot: the next snapshot takes over the stale lock and records everything',
  { timeout: LIMIT },
  async () => {
    const sb = sandbox();
    try {
      makeTree(sb.dir, 200, 'v0');
      await trailOk(sb, ['init', sb.dir, '--name', 'w']);
      let full = 0;
      for (let round = 0; round < ROUNDS + 1; round++) {
        // Change a third of the files, add and remove some.
        for (let i = round % 3; i < 200; i += 3)
          writeFileSync(join(sb.dir, `d${i % 10}`, `f${i}`), `v${round + 1} ${i}\n`);
        writeFileSync(join(sb.dir, `new${round}`), `new ${round}\n`);
        rmSync(join(sb.dir, `new${round - 2}`), { force: true });
        if (round === 0) {
          full = await timed(() => trailOk(sb, ['snapshot', '--name', 'w']));
          continue;
        }
        const child = spawnTrail(sb, ['snapshot', '--name', 'w']);
        await sleep(Math.floor(Math.random() * full * 1.2));
        await killGroup(child);
        const ctx = `round ${round}`;
        const next = await trailOk(sb, ['snapshot', '--name', 'w', '--json'], { timeoutMs: 60_000 });
        assert.equal(next.signal, null, ctx);
        assertFsck(sb.repo);
        assertRecorded(sb, sb.repo);
        const st = await trailOk(sb, ['status', '--full', '--name', 'w', '--json']);
        assert.equal(st.json.clean, true, `${ctx}: ${JSON.stringify(st.json.changes)}`);
        assert.ok(!existsSync(join(sb.repo, 'trail', 'lock')), `${ctx}: lock left behind`);
      }
      assert.deepEqual(leftovers(sb.repo, true), []);
    } finally {
      sb.cleanup();
    }
  },
);

test('kill -9 during revert: the next command finishes it and says so', { timeout: LIMIT }, async () => {
  const sb = sandbox();
  try {
    const N = 400;
    makeTree(sb.dir, N, 'one');
    const c1 = (await trailOk(sb, ['init', sb.dir, '--name', 'w', '--json'])).json.commit as string;
    const atC1 = walkDisk(sb.dir);
    rmSync(join(sb.dir, 'd9'), { recursive: true });
    makeTree(sb.dir, N - 100, 'two');
    mkdirSync(join(sb.dir, 'extra'));
    writeFileSync(join(sb.dir, 'extra', 'x'), 'x\n');
    const c2 = (await trailOk(sb, ['snapshot', '--name', 'w', '--json'])).json.commit as string;
    const atC2 = walkDisk(sb.dir);
    const states = { [c1]: atC1, [c2]: atC2 };
    const full = await timed(() => trailOk(sb, ['revert', c1, '--name', 'w']));
    assertSameDisk(walkDisk(sb.dir), atC1, 'a revert that was not killed');
    let current = c1;
    let finished = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const target = current === c1 ? c2 : c1;
      const child = spawnTrail(sb, ['revert', target, '--name', 'w']);
      await sleep(Math.floor(full * (0.2 + Math.random())));
      await killGroup(child);
      const ctx = `round ${round} (revert to ${target.slice(0, 8)})`;
      const next = await trailOk(sb, ['snapshot', '--name', 'w', '--json'], { timeoutMs: 60_000 });
      const said = next.stderr.toString();
      const disk = walkDisk(sb.dir);
      if (/finished a revert/.test(said)) {
        finished++;
        assertSameDisk(disk, states[target]!, `${ctx}: the revert was said to be finished`);
        current = target;
      } else {
        // Killed before it touched the disk, or after it was done: never half of it.
        const want = states[target]!;
        const done =
          disk.size === want.size && [...disk].every(([k, v]) => JSON.stringify(v) === JSON.stringify(want.get(k)));
        if (!done) assertSameDisk(disk, states[current]!, `${ctx}: a killed revert left a mix`);
        if (done) current = target;
      }
      assertFsck(sb.repo);
      const st = await trailOk(sb, ['status', '--full', '--name', 'w', '--json']);
      assert.equal(st.json.clean, true, `${ctx}: ${JSON.stringify(st.json.changes).slice(0, 500)}`);
      assert.ok(!existsSync(join(sb.repo, 'trail', 'revert-journal.json')), `${ctx}: journal left behind`);
      assertRecorded(sb, sb.repo);
    }
    assert.deepEqual(leftovers(sb.repo, true), []);
    // The walk also must not find trail's temp files in the watched dir.
    assert.equal([...walkDisk(sb.dir).keys()].filter((p) => p.includes('.trail-tmp')).length, 0);
    void finished;
  } finally {
    sb.cleanup();
  }
});
