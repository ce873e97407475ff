import { promises as fsp, constants as C } from 'node:fs';
import { hostname } from 'node:os';
import { TrailError, Exit, errorCode } from '../../util/errors.js';
import { pidAlive } from '../../util/pid.js';
import { sweepGitLocks } from '../../util/git-lock-sweeper.js';

/**
 * One writer per shadow repository. The lock is a file created with O_EXCL holding the
 * owner's pid; a lock whose pid is gone (kill -9) is stale and is taken over. Waiting is
 * bounded: a writer never waits forever.
 *
 * Given the git dir it guards, taking the lock also clears git's own locks there that a
 * killed git left behind (see util/git-lock-sweeper.ts): once trail's writer lock is held no
 * git of trail's can be writing, so a lock nobody holds would only make the next write fail.
 */
export class RepoLock {
  private held = false;
  constructor(
    readonly file: string,
    private readonly gitDir?: string,
  ) {}

  async acquire(timeoutMs = 30_000, purpose = 'write'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const body = JSON.stringify({ pid: process.pid, host: hostname(), purpose, since: new Date().toISOString() });
    for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
      try {
        const fh = await fsp.open(this.file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
        try {
          await fh.writeFile(body);
        } catch (err) {
          // Disk full: an empty lock would block every later command.
          await fh.close().catch(() => {});
          await fsp.rm(this.file, { force: true });
          throw err;
        }
        await fh.close();
        this.held = true;
        if (this.gitDir) await this.sweep(timeoutMs);
        return;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
      const owner = await this.owner();
      // A lock without a readable owner long after it was made: its maker died between
      // creating and writing it (kill -9).
      if ((owner && !pidAlive(owner.pid)) || (!owner && (await this.olderThan(5_000)))) {
        // Rename first so that two processes cannot both remove a stale lock and then both
        // believe they created a fresh one.
        const grave = `${this.file}.stale.${process.pid}`;
        try {
          await fsp.rename(this.file, grave);
          await fsp.rm(grave, { force: true });
        } catch {
          /* someone else did */
        }
        continue;
      }
      if (Date.now() >= deadline) {
        const who = owner ? `process ${owner.pid} (${owner.purpose}, since ${owner.since})` : 'another process';
        throw new TrailError(
          `the trail is busy: ${who} holds ${this.file}`,
          Exit.busy,
          'try again, or stop the other process',
        );
      }
      await new Promise((r) => setTimeout(r, delay));
    }
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
    await fsp.rm(this.file, { force: true });
  }

  private async olderThan(ms: number): Promise<boolean> {
    const st = await fsp.stat(this.file).catch(() => undefined);
    return !!st && Date.now() - st.mtimeMs > ms;
  }

  async owner(): Promise<{ pid: number; purpose: string; since: string } | undefined> {
    try {
      const o = JSON.parse(await fsp.readFile(this.file, 'utf8')) as {
        pid: number;
        purpose: string;
        since: string;
        host?: string;
      };
      if (o.host && o.host !== hostname()) return { ...o, pid: -1 };
      return o;
    } catch {
      return undefined; // half-written by its owner, or gone: try again
    }
  }
}
