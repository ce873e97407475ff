// One writer for the proof notes and the stamp queue. The lock is a file created with
// O_EXCL holding its owner, so a crashed owner never blocks anchoring for good; it is taken
// and judged as the writer lock is (util/lock-file.ts). It guards only anchoring state: record/ has
// its own lock for the index and refs.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { TrailError, Exit } from '../util/errors.js';
import { releaseLock, takeLock, type LockOwner } from '../util/lock-file.js';
import { sweepGitLocks } from '../util/git-lock-sweeper.js';

export function anchorStateDir(gitDir: string): string {
  return join(gitDir, 'trail');
}

export async function withAnchorLock<T>(gitDir: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const dir = anchorStateDir(gitDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'anchor.lock');
  // The writer lock's rules (util/lock-file.ts): a write that fails leaves no lock, an owner-less lock
  // is stale after 5 s, an owner gone (another boot, a dead or reused pid) is taken over, and
  // a takeover never takes a fresh lock from the one that made it.
  const busy = (owner: LockOwner | undefined) =>
    new TrailError(
      `another trail process (pid ${owner?.pid ?? 'unknown'}) is stamping or upgrading proofs`,
      Exit.busy,
      `lock file: ${file}`,
    );
  const body = await takeLock(file, { purpose: 'anchor', since: new Date().toISOString() }, waitMs, busy);
  try {
    // A git killed while writing the notes (fast-import, kill -9 of `trail stamp`) leaves the
    // notes ref's lock behind, which would fail every later stamp: cleared here, since no
    // anchoring git of trail's runs without this lock.
    await sweepGitLocks(gitDir, { only: anchorsLock, waitMs });
    return await fn();
  } finally {
    await releaseLock(file, body);
  }
}

/** The locks the anchor's writes take: the notes ref and its reflog, the proofs branch and its
 * scratch ref (src/anchor/proofs-branch.ts), and fast-import's pack. */
function anchorsLock(rel: string): boolean {
  return (
    rel.startsWith('refs/notes/') ||
    rel.startsWith('logs/refs/notes/') ||
    rel.startsWith('refs/heads/proofs') ||
    rel.startsWith('logs/refs/heads/proofs') ||
    rel.startsWith('refs/trail-work/') ||
    rel.startsWith('logs/refs/trail-work/') ||
    rel.startsWith('objects/')
  );
}
