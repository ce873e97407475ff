import { join } from 'node:path';
import { Exit, TrailError } from '../util/errors.js';
import { releaseLock, takeLock } from '../util/lock-file.js';

/**
 * One trail watch per trail, held from its start to its stop (`trail/watch.lock`, with the
 * writer lock's rules for an owner that is gone: util/lock-file.ts). A second one — a
 * foreground run beside the service, or `trail watch` of every trail beside `trail watch
 * NAME` — would double every commit's work, take the query socket from the first, and write
 * checkpoints that lie: its start would follow the first's start, not a stop, and so claim a
 * crash and an unwatched window that never were. It is refused at once instead, naming the
 * one that runs. Returns the release.
 */
export async function holdWatchLock(gitDir: string, name: string): Promise<() => Promise<void>> {
  const file = join(gitDir, 'trail', 'watch.lock');
  const body = await takeLock(file, { purpose: 'watch', since: new Date().toISOString() }, 0, (owner) => {
    const who = owner ? `process ${owner.pid} (since ${String(owner.since ?? '?')})` : 'another process';
    return new TrailError(
      `${name} is already watched by ${who}: one trail watch per trail`,
      Exit.busy,
      `stop that one first (the service: systemctl stop trail), or leave it running; lock file: ${file}`,
    );
  });
  return () => releaseLock(file, body);
}
