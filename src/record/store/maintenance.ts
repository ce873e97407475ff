import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitEnv } from '../../util/git-env.js';
import { RepoLock } from '../repo/lock.js';

// Background maintenance of a shadow repository: a first snapshot stores its blobs
// uncompressed (zlib level 0, see snapshot.ts) because compressing them cost more CPU than
// everything else in it; this packs them again, compressed and with deltas, once nobody waits.
//
// - It never blocks recording: it takes no part of the repository's write lock, and git's
//   repack only adds a pack, then deletes the packs it has copied.
// - It never runs twice at once: its own lock (trail/maintenance.lock), taken without
//   waiting; a lock whose process is gone (kill -9) is taken over.
// - A kill -9 at any moment leaves a valid repository: git writes the new pack under a
//   temporary name, renames it into place (.idx last), and removes old packs only after that.
//   `-A` (not `-a`): objects of an old pack that no ref reaches yet — a snapshot that was
//   writing its pack while this ran and had not moved its ref — become loose objects
//   instead of being dropped; later prunes keep them for two weeks.

export function maintenanceLock(gitDir: string): RepoLock {
  return new RepoLock(join(gitDir, 'trail', 'maintenance.lock'));
}

/** Starts `repack` in a detached process at the lowest CPU priority and returns at once. */
export function startBackgroundRepack(gitDir: string): void {
  try {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'repack', gitDir], {
      detached: true,
      stdio: 'ignore',
    });
    child.on('error', () => {});
    child.unref();
  } catch {
    /* maintenance is an optimization: a snapshot never fails for it */
  }
}

/**
 * Repacks every object into one compressed pack (`git repack -A -d -F`). Returns false when
 * another maintenance holds the lock (it will do the same work).
 */
export async function repack(gitDir: string): Promise<boolean> {
  const lock = maintenanceLock(gitDir);
  try {
    await lock.acquire(0, 'repack');
  } catch {
    return false;
  }
  try {
    await new Promise<void>((resolve, reject) => {
      // -F: compress again what the snapshot stored at level 0 (plain -a would copy it as
      // it is); one thread, so a recorder that starts meanwhile keeps a core; a bounded delta
      // window (measured at 50k files: peak RSS 445 MB → 161 MB, same time, same size).
      // Pack windows mapped 16 MB at a time, 64 MB at most: the uncompressed pack would
      // otherwise be mapped whole (RSS of pack-objects 415 MB at 50k files).
      const config = [
        '-c',
        'pack.threads=1',
        '-c',
        'pack.windowMemory=32m',
        '-c',
        'pack.deltaCacheSize=16m',
        '-c',
        'core.packedGitWindowSize=16m',
        '-c',
        'core.packedGitLimit=64m',
      ];
      const git = spawn('git', ['--git-dir', gitDir, ...config, 'repack', '-A', '-d', '-F', '-q'], {
        // Not the host's git config (a user's pack settings) nor a GIT_DIR inherited from a hook.
        env: gitEnv(),
        stdio: 'ignore',
      });
      git.on('error', reject);
      git.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git repack exited ${code}`))));
    });
    return true;
  } finally {
    await lock.release().catch(() => {});
  }
}

/** Whether a maintenance process holds the lock now (for callers that wait, like the bench). */
export async function maintenanceRunning(gitDir: string): Promise<boolean> {
  return fsp
    .access(join(gitDir, 'trail', 'maintenance.lock'))
    .then(() => true)
    .catch(() => false);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'repack' && process.argv[3]) {
  try {
    setPriority(19); // git inherits it
  } catch {
    /* not allowed: run at the normal priority */
  }
  repack(process.argv[3]).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
