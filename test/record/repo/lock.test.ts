// The writer lock (trail/lock) against what a crash leaves: a lock of a process gone is taken
// over even when its pid names a live process again (a power cut, then pids reused at the next
// boot), a live owner's lock is respected, an older trail's lock keeps the older rule, and two
// takers of one stale lock never both hold it (the race made step by step with a hook).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RepoLock } from '../../../src/record/repo/lock.js';
import { lockTesting } from '../../../src/util/lock-file.js';

/** Read here from /proc, not through the code under test. */
const BOOT = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const stat = readFileSync('/proc/self/stat', 'latin1');
const START = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
const OTHER_BOOT = '00000000-0000-4000-8000-000000000000';

function lockFile(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'trail-repolock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'lock');
}

function write(file: string, owner: Record<string, unknown>): void {
  writeFileSync(file, JSON.stringify({ purpose: 'watch', since: '2020-01-01T00:00:00.000Z', ...owner }));
}

/** Takes the lock (it must be free or stale), checks it is this process's now, and releases it. */
async function takesOver(file: string): Promise<void> {
  const lock = new RepoLock(file);
  await lock.acquire(1000);
  const now = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(now.pid, process.pid);
  assert.equal(now.boot, BOOT);
  assert.equal(now.start, START);
  await lock.release();
  assert.ok(!existsSync(file));
}

async function busy(file: string, pid: number): Promise<void> {
  await assert.rejects(new RepoLock(file).acquire(200), (e: Error) => {
    assert.match(e.message, new RegExp(`the trail is busy: process ${pid} \\(watch`));
    return true;
  });
  assert.ok(existsSync(file), 'a live owner keeps its lock');
}

test('a lock of another boot is taken over though its pid is alive again (power cut, pid reused)', async (t) => {
  const file = lockFile(t);
  for (const pid of [process.pid, 1]) {
    write(file, { pid, host: hostname(), boot: OTHER_BOOT, start: START });
    await takesOver(file);
  }
  // Its hostname does not matter: a renamed host, or a daemon under ProtectHostname=.
  write(file, { pid: process.pid, host: 'old-name', boot: OTHER_BOOT, start: START });
  await takesOver(file);
});

test('a lock whose pid now names a process started at another time is taken over', async (t) => {
  const file = lockFile(t);
  write(file, { pid: process.pid, host: hostname(), boot: BOOT, start: String(Number(START) - 1) });
  await takesOver(file);
  write(file, { pid: 1, host: hostname(), boot: BOOT, start: '999999999999' });
  await takesOver(file);
});

test("a lock of this boot naming a live pid with that process's start time is respected", async (t) => {
  const file = lockFile(t);
  write(file, { pid: process.pid, host: hostname(), boot: BOOT, start: START });
  await busy(file, process.pid);
  const owner = await new RepoLock(file).owner();
  assert.equal(owner?.stale, false);
  // Also under another hostname (the daemon's, kept by ProtectHostname= across a rename).
  write(file, { pid: process.pid, host: 'old-name', boot: BOOT, start: START });
  await busy(file, process.pid);
  // And a lock another holder really holds.
  rmSync(file);
  const holder = new RepoLock(file);
  await holder.acquire(1000, 'watch');
  await busy(file, process.pid);
  await holder.release();
  assert.ok(!existsSync(file));
});

test("an older trail's lock (no boot id) keeps the older rule: pid, and another host is never stolen", async (t) => {
  const file = lockFile(t);
  write(file, { pid: 999_999_999, host: hostname() });
  assert.equal((await new RepoLock(file).owner())?.stale, true);
  await takesOver(file);
  write(file, { pid: process.pid, host: hostname() });
  await busy(file, process.pid);
  write(file, { pid: 999_999_999, host: 'elsewhere' });
  await busy(file, 999_999_999);
  assert.equal((await new RepoLock(file).owner())?.pid, -1, "its pid means nothing here (init's check)");
});

test('two takers of one stale lock: the one that judged it first does not take the fresh lock from the other', async (t) => {
  const file = lockFile(t);
  write(file, { pid: 999_999_999, host: hostname(), boot: BOOT, start: '1' });
  const a = new RepoLock(file);
  // B judges the lock stale; before it removes it, A takes the same stale lock over and holds.
  lockTesting.beforeTakeover = async () => {
    lockTesting.beforeTakeover = undefined;
    await a.acquire(1000, 'watch');
  };
  t.after(() => (lockTesting.beforeTakeover = undefined));
  await busy(file, process.pid);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
  await a.release();
  assert.ok(!existsSync(file));
});
