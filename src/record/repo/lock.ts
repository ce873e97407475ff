import { hostname } from 'node:os';
import { TrailError, Exit } from '../../util/errors.js';
import { lookLock, ownerGone, releaseLock, takeLock, type LockOwner } from '../../util/lock-file.js';
import { sweepGitLocks } from '../../util/git-lock-sweeper.js';

/**
 * One writer per shadow repository. The lock is a file created with O_EXCL holding its owner;
 * a lock whose owner is gone (kill -9, a power cut) is stale and is taken over (util/lock-file.ts
 * says how that is told and done, for the anchor lock too). Waiting is bounded: a writer
 * never waits forever.
 *
 * Given the git dir it guards, taking the lock also clears git's own locks there that a
 * killed git left behind (see util/git-lock-sweeper.ts): once trail's writer lock is held no
 * git of trail's can be writing, so a lock nobody holds would only make the next write fail.
 */
export class RepoLock {
  private held = false;
  private body = '';
  constructor(
    readonly file: string,
    private readonly gitDir?: string,
  ) {}

  async acquire(timeoutMs = 30_000, purpose = 'write'): Promise<void> {
    const busy = (owner: LockOwner | undefined) => {
      const who = owner ? `process ${owner.pid} (${owner.purpose}, since ${owner.since})` : 'another process';
      return new TrailError(
        `the trail is busy: ${who} holds ${this.file}`,
        Exit.busy,
        'try again, or stop the other process',
      );
    };
    this.body = await takeLock(this.file, { purpose, since: new Date().toISOString() }, timeoutMs, busy);
    this.held = true;
    if (this.gitDir) await this.sweep(timeoutMs);
  }

  /** A live foreign git is waited for as long as the writer lock would be. Without waiting
   * (status refreshing its cache) stale locks are still cleared and a live one means busy. */
  private async sweep(timeoutMs: number): Promise<void> {
    try {
      await sweepGitLocks(this.gitDir!, { waitMs: timeoutMs });
    } catch (err) {
      await this.release();
      throw err;
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await releaseLock(this.file, this.body);
  }

  /** Who holds the lock, and whether it is stale (its owner gone, see util/lock-file.ts). An older
   * trail's lock from another host gives pid -1: its pid means nothing here. */
  async owner(): Promise<(LockOwner & { purpose: string; since: string; stale: boolean }) | undefined> {
    const o = (await lookLock(this.file).catch(() => undefined))?.owner as
      (LockOwner & { purpose: string; since: string }) | undefined;
    if (!o) return undefined; // half-written by its owner, or gone: try again
    const foreign = !o.boot && !!o.host && o.host !== hostname();
    return { ...o, pid: foreign ? -1 : o.pid, stale: ownerGone(o) };
  }
}
