// Background maintenance (maintenance.ts): after a first snapshot that stored its blobs
// uncompressed, a detached `git repack` compresses them. It must leave a valid repository
// whatever happens to it (kill -9), never run twice at once, and lose no object.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { maintenanceLock, maintenanceRunning, repack } from '../../../src/record/store/maintenance.js';
import { STORE_FROM } from '../../../src/record/store/pack-writer.js';
import { git, tempDir, trail } from '../../support/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Text that compresses well, over STORE_FROM bytes in all: init stores it uncompressed. */
function bigTree(dir: string): void {
  const line = 'option_a = some value that repeats\n';
  for (let i = 0; i < 24; i++) {
    mkdirSync(join(dir, `d${i % 4}`), { recursive: true });
    writeFileSync(
      join(dir, `d${i % 4}`, `f${i}.conf`),
      `# file ${i}\n` + line.repeat(Math.ceil(STORE_FROM / 20 / line.length)),
    );
  }
}

function packBytes(repo: string): number {
  const dir = join(repo, 'objects', 'pack');
  // A repack running meanwhile removes the packs it replaced: one listed may be gone.
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** The detached repack starts a moment after init returns: wait for the repacked pack. */
async function waitRepacked(repo: string): Promise<void> {
  for (let i = 0; i < 600 && (packBytes(repo) >= STORE_FROM || (await maintenanceRunning(repo))); i++) await sleep(100);
  assert.equal(await maintenanceRunning(repo), false, 'maintenance finished');
}

/** A tree big enough for init to store its blobs, initialized, and its repack waited for. */
async function initBig(t: { after(fn: () => void): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  bigTree(dir);
  const home = join(tmp.path, 'home');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const repo = init.json.repo as string;
  await waitRepacked(repo);
  return { dir, home, repo, init };
}

describe('background repack after a first snapshot', () => {
  it('compresses what init stored, keeping every object and the trail readable', async (t) => {
    const { dir, home, repo, init } = await initBig(t);
    assert.ok(packBytes(repo) < STORE_FROM, `packed again, compressed: ${packBytes(repo)} bytes`);
    assert.equal(git(repo, ['fsck', '--strict', '--full', '--no-dangling']).code, 0);
    const blob = git(repo, ['cat-file', 'blob', `${init.json.commit}:d1/f1.conf`]).stdout;
    assert.ok(blob.equals(readFileSync(join(dir, 'd1', 'f1.conf'))));
    const full = await trail(home, ['status', '--full', '--json']);
    assert.equal(full.code, 0, full.stdout);
  });

  it('survives kill -9 at any moment and runs again; never two at once', async (t) => {
    const { dir, repo, init } = await initBig(t);
    // Kill a repack of our own (started here so that we know its process group) at
    // several moments: before git starts, while it packs, about when it renames.
    for (const after of [5, 60, 150, 400]) {
      // setsid: the repack, its git and git's pack-objects form one process group, killed at once.
      const script = new URL('../../../src/record/store/maintenance.js', import.meta.url).pathname;
      const child = spawnSync('sh', [
        '-c',
        `setsid node "$0" repack "$1" & pid=$!; sleep ${after / 1000}; kill -9 -- -$pid; wait $pid; true`,
        script,
        repo,
      ]);
      assert.equal(child.status, 0, child.stderr?.toString());
      const fsck = git(repo, ['fsck', '--strict', '--full', '--no-dangling']);
      assert.equal(fsck.code, 0, `after a kill at ${after} ms: ${fsck.stderr}`);
      const blob = git(repo, ['cat-file', 'blob', `${init.json.commit}:d2/f2.conf`]).stdout;
      assert.ok(blob.equals(readFileSync(join(dir, 'd2', 'f2.conf'))), `after a kill at ${after} ms`);
    }
    // A lock held by a live process: a second maintenance does not start.
    const lock = maintenanceLock(repo);
    await lock.acquire(0, 'test');
    try {
      assert.equal(await repack(repo), false);
    } finally {
      await lock.release();
    }
    // A lock left by a dead process is taken over.
    writeFileSync(
      join(repo, 'trail', 'maintenance.lock'),
      JSON.stringify({ pid: 2 ** 22 + 12345, purpose: 'repack', since: new Date().toISOString() }),
    );
    assert.equal(await repack(repo), true);
    assert.equal(existsSync(join(repo, 'trail', 'maintenance.lock')), false);
    assert.equal(git(repo, ['fsck', '--strict', '--full', '--no-dangling']).code, 0);
  });
});
