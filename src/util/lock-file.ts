import { promises as fsp, constants as C, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { errorCode } from './errors.js';
import { pidAlive, procStat } from './pid.js';

/**
 * Lock files owned by a process, shared by the writer lock (record/repo/lock.ts) and the
 * anchor lock (anchor/anchor-lock.ts). The file is created with O_EXCL and holds its owner as
 * JSON; a lock whose owner is known to be gone is taken over.
 *
 * The pid alone does not say whether the owner is gone: after a power cut the pid a lock names
 * often belongs to another live process at the next boot (low pids are dense at boot; the new
 * daemon may even get its own old pid back), and such a lock would never be taken over. So a
 * lock also records the boot (the kernel's boot id) and when its owner started (/proc's
 * starttime): a lock of another boot, or whose pid started at another time, is stale.
 *
 * The hostname no longer decides once a lock has a boot id: the boot id names the running
 * kernel better than a name that can change (a renamed host; ProtectHostname=, which keeps the
 * daemon's name from before a rename), and the old rule (another hostname: never stolen) left
 * a lock for good after such a rename and a crash. The state is on this machine's disk; the
 * one case left where a pid means nothing here, another pid namespace of the same kernel (a
 * container sharing the directory), is told by the pid namespace, and not stolen.
 */
export interface LockOwner {
  pid: number;
  host?: string;
  /** /proc/sys/kernel/random/boot_id: another one means the owner died with that kernel. */
  boot?: string;
  /** /proc/self/ns/pid: pids of another namespace cannot be checked from here. */
  pidns?: string;
  /** /proc/<pid>/stat's starttime (clock ticks since boot): another one means pid reuse. */
  start?: string;
  [field: string]: unknown;
}

/** A lock file as read: its owner (none if empty or half-written), its text and its age. */
export interface SeenLock {
  owner: LockOwner | undefined;
  text: string;
  mtimeMs: number;
}

/** An owner-less lock older than this was left by a maker killed between creating and writing
 * it (or a write that failed and could not be undone): writing takes microseconds. */
export const OWNERLESS_STALE_MS = 5_000;

/** For tests only: runs after a lock has been judged stale and before it is removed, so that
 * a test can let another process take it over in between (the takeover race). */
export const lockTesting: { beforeTakeover?: (file: string) => Promise<void> } = {};

let self: { boot?: string; pidns?: string; start?: string } | undefined;

/** This process's identity, for the locks it writes. Any part /proc does not give is left out
 * (then the lock is judged by the older rule). */
function selfIdentity(): { boot?: string; pidns?: string; start?: string } {
  if (!self) {
    self = {};
    try {
      self.boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || undefined;
    } catch {
      /* no /proc */
    }
    try {
      self.pidns = readlinkSync('/proc/self/ns/pid');
    } catch {
      /* no /proc */
    }
    const start = startTime(process.pid);
    if (start) self.start = start;
  }
  return self;
}

/** /proc/<pid>/stat field 22, starttime (clock ticks since boot). */
export function startTime(pid: number): string | undefined {
  const start = procStat(pid)?.[19];
  return start && /^\d+$/.test(start) ? start : undefined;
}

/** Whether a lock's owner is known to be gone. */
export function ownerGone(o: LockOwner): boolean {
  const me = selfIdentity();
  if (o.boot && me.boot) {
    if (o.boot !== me.boot) return true;
    if (o.pidns && me.pidns && o.pidns !== me.pidns) return false;
    if (!pidAlive(o.pid)) return true;
    const start = startTime(o.pid);
    return !!o.start && !!start && start !== o.start;
  }
  // An older trail's lock (no boot id): its pid, and a lock of another hostname is not stolen.
  if (o.host && o.host !== hostname()) return false;
  return !pidAlive(o.pid);
}

/** The lock at `file`, read through one descriptor so that text and age are of one file;
 * undefined if there is none. An older trail's anchor lock holds a bare pid. */
export async function lookLock(file: string): Promise<SeenLock | undefined> {
  let fh;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    const text = await fh.readFile('utf8');
    let owner: LockOwner | undefined;
    if (/^\d+\n?$/.test(text)) owner = { pid: Number(text) };
    else {
      try {
        owner = JSON.parse(text) as LockOwner;
      } catch {
        /* empty or half-written */
      }
    }
    if (!owner || !Number.isInteger(owner.pid) || owner.pid <= 0) owner = undefined;
    return { owner, text, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

/**
 * Takes the lock at `file` for this process, with `fields` (purpose, since…) besides its
 * identity, waiting at most `timeoutMs` for a live owner (then throws `busy(owner)`). Returns
 * the text written, which releaseLock needs.
 */
export async function takeLock(
  file: string,
  fields: Record<string, unknown>,
  timeoutMs: number,
  busy: (owner: LockOwner | undefined) => Error,
): Promise<string> {
  const body = JSON.stringify({ pid: process.pid, host: hostname(), ...selfIdentity(), ...fields });
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    if (await createLock(file, body)) return body;
    const seen = await lookLock(file);
    if (!seen) continue; // released meanwhile
    if (isStale(seen)) {
      await lockTesting.beforeTakeover?.(file);
      if (await takeOver(file)) continue;
    }
    if (Date.now() >= deadline) throw busy(seen.owner);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Removes the lock if it is still this process's (it always should be; a lock someone else
 * holds is never removed). */
export async function releaseLock(file: string, body: string): Promise<void> {
  if ((await lookLock(file).catch(() => undefined))?.text === body) await fsp.rm(file, { force: true });
}

/** Creates the lock; false if it exists. A write that fails (disk full) removes it again: an
 * empty lock would otherwise stand in every later writer's way. */
async function createLock(file: string, body: string): Promise<boolean> {
  let fh;
  try {
    fh = await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(body);
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(file, { force: true });
    throw err;
  }
  await fh.close();
  return true;
}

function isStale(seen: SeenLock): boolean {
  return seen.owner ? ownerGone(seen.owner) : Date.now() - seen.mtimeMs > OWNERLESS_STALE_MS;
}

/**
 * Removes a stale lock; true once it is gone. Two processes may judge the same lock stale: if
 * one removes it and makes a fresh one, the other's remove (or rename) would take that fresh
 * lock from it, and both would hold. So a takeover first claims the lock: a hard link
 * `<file>.taker` to it, which link() makes only if no other takeover has one. Under the claim
 * nothing else removes the lock (its owner is gone, other takers wait), so the file linked,
 * judged again, is the one `file` names until it is unlinked here.
 */
async function takeOver(file: string): Promise<boolean> {
  const claim = `${file}.taker`;
  try {
    await fsp.link(file, claim);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return true; // removed meanwhile
    if (errorCode(err) !== 'EEXIST') throw err;
    // Another takeover, which lasts milliseconds; one older than 5 s was killed midway. (link
    // sets the ctime: the claim's mtime is the old lock's.)
    const st = await fsp.lstat(claim).catch(() => undefined);
    if (st && Date.now() - st.ctimeMs > OWNERLESS_STALE_MS) await removeClaim(claim, st.ino);
    return false;
  }
  try {
    const linked = await lookLock(claim);
    if (!linked || !isStale(linked)) return false; // a fresh lock made since it was judged
    await fsp.unlink(file);
    return true;
  } finally {
    await fsp.rm(claim, { force: true });
  }
}

let graves = 0;

/** Removes a killed taker's claim, but only that one (the inode seen), not a claim another
 * taker has made since; one made in the instant between the rename and the link back is lost
 * (it needs a taker killed midway and two more at once). */
async function removeClaim(claim: string, ino: number): Promise<void> {
  const grave = `${claim}.stale.${process.pid}.${++graves}`;
  try {
    await fsp.rename(claim, grave);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  if ((await fsp.lstat(grave)).ino !== ino) await fsp.link(grave, claim).catch(() => {});
  await fsp.rm(grave, { force: true });
}
