// The anchor lock (trail/anchor.lock) follows the writer lock's rules (util/pid.ts): a failed
// write leaves no lock behind, an owner-less lock is stale after 5 s, an owner gone (another
// boot, a reused pid) is taken over, an older trail's bare pid is still read, and two takers of
// one stale lock never both get in (the race made step by step with a hook).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withAnchorLock } from '../../src/anchor/anchor-lock.js';
import { lockTesting } from '../../src/util/lock-file.js';

const stat = readFileSync('/proc/self/stat', 'latin1');
const START = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
const BOOT = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

function gitDir(t: { after(fn: () => void): void }): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'trail-anchorlock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'trail'));
  return { dir, file: join(dir, 'trail', 'anchor.lock') };
}

const ran = (dir: string, waitMs = 1000) => withAnchorLock(dir, async () => 'ran', waitMs);

async function busy(dir: string, pid: number | 'unknown'): Promise<void> {
  await assert.rejects(ran(dir, 200), (e: Error) => {
    assert.match(e.message, new RegExp(`another trail process \\(pid ${pid}\\) is stamping`));
    return true;
  });
}

test('a write that fails (file size limit, as a full disk) leaves no anchor lock behind', (t) => {
  const { dir, file } = gitDir(t);
  const mod = fileURLToPath(new URL('../../src/anchor/anchor-lock.js', import.meta.url));
  const script = `import(${JSON.stringify(mod)}).then((m) => m.withAnchorLock(${JSON.stringify(dir)}, async () => {}))
    .then(() => console.log('ran'), (e) => console.log(e.code))`;
  // ulimit -f 0: creating the empty file works, writing a byte fails with EFBIG.
  const r = spawnSync('bash', ['-c', `ulimit -f 0; exec "${process.execPath}" -e "$0"`, script], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'EFBIG', r.stderr);
  assert.ok(!existsSync(file), 'no empty lock left');
});

test('an empty anchor lock (its maker killed before writing) is respected for 5 s, then taken over', async (t) => {
  const { dir, file } = gitDir(t);
  writeFileSync(file, '');
  await busy(dir, 'unknown');
  const old = (Date.now() - 6_000) / 1000;
  utimesSync(file, old, old);
  assert.equal(await ran(dir), 'ran');
  assert.ok(!existsSync(file));
});

test('an anchor lock of another boot or a reused pid is taken over; a live owner is respected', async (t) => {
  const { dir, file } = gitDir(t);
  const own = { pid: process.pid, host: hostname(), purpose: 'anchor', since: new Date().toISOString() };
  writeFileSync(file, JSON.stringify({ ...own, boot: '00000000-0000-4000-8000-000000000000', start: START }));
  assert.equal(await ran(dir), 'ran');
  writeFileSync(file, JSON.stringify({ ...own, boot: BOOT, start: '1' }));
  assert.equal(await ran(dir), 'ran');
  writeFileSync(file, JSON.stringify({ ...own, boot: BOOT, start: START }));
  await busy(dir, process.pid);
  // An older trail's lock, a bare pid: taken over when that pid is dead, else respected.
  writeFileSync(file, '999999999\n');
  assert.equal(await ran(dir), 'ran');
  writeFileSync(file, `${process.pid}\n`);
  await busy(dir, process.pid);
});

test('two takers of one stale anchor lock: the later one waits for the one inside', async (t) => {
  const { dir, file } = gitDir(t);
  writeFileSync(file, '999999999\n');
  let inside = 0;
  let leave!: () => void;
  const left = new Promise<void>((r) => (leave = r));
  let aIn!: Promise<unknown>;
  // B judges the stale lock; before it removes it, A takes it over and is inside.
  lockTesting.beforeTakeover = async () => {
    lockTesting.beforeTakeover = undefined;
    let entered!: () => void;
    const isIn = new Promise<void>((r) => (entered = r));
    aIn = withAnchorLock(dir, async () => {
      inside++;
      entered();
      await left;
      inside--;
    });
    await isIn;
  };
  t.after(() => (lockTesting.beforeTakeover = undefined));
  await assert.rejects(
    withAnchorLock(dir, async () => assert.fail(`B got in while A was inside (${inside})`), 300),
    /another trail process .* is stamping/,
  );
  assert.equal(inside, 1);
  leave();
  await aIn;
  assert.ok(!existsSync(file));
});
