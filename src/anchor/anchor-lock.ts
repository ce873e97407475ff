// One writer for the proof notes and the stamp queue. The lock is a file created with
// O_EXCL holding the owner's pid, so a crashed owner (pid gone) never blocks anchoring for
// good. It guards only anchoring state: record/ has its own lock for the index and refs.
import { promises as fsp, constants as C } from 'node:fs';
import { join } from 'node:path';
import { TrailError, Exit, errorCode } from '../util/errors.js';
import { pidAlive } from '../util/pid.js';
import { sweepGitLocks } from '../util/git-lock-sweeper.js';

export function anchorStateDir(gitDir: string): string {
  return join(gitDir, 'trail');
}

export async function withAnchorLock<T>(gitDir: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const dir = anchorStateDir(gitDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'anchor.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fh = await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
      const owner = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
      if (owner > 0 && !pidAlive(owner)) {
        // Stale: its owner died. Remove only if it still names that same dead pid.
        await fsp.rm(file, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new TrailError(
          `another trail process (pid ${owner || 'unknown'}) is stamping or upgrading proofs`,
          Exit.busy,
          `lock file: ${file}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    // A git killed while writing the notes (fast-import, kill -9 of `trail stamp`) leaves the
    // notes ref's lock behind, which would fail every later stamp: cleared here, since no
    // anchoring git of trail's runs without this lock.
    await sweepGitLocks(gitDir, { only: anchorsLock, waitMs });
    return await fn();
  } finally {
    await fsp.rm(file, { force: true });
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
