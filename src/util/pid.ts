import { readFileSync } from 'node:fs';
import { errorCode } from './errors.js';

/**
 * Whether the process that wrote a lock is still running, so that a lock left by one that
 * died (kill -9, power cut) can be taken over. Signal 0 only asks: EPERM means the process
 * exists but belongs to someone else. A pid that is not a positive integer (an owner on
 * another host, a garbled lock) counts as alive: what is not known to be dead is not stolen.
 * A zombie answers signal 0 but runs no more: a process killed after its parent, left to a
 * pid 1 that does not reap (many containers and VMs), stays one for good.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errorCode(err) !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** /proc/<pid>/stat's state is Z or X (no /proc, or gone since: signal 0 has answered). */
function isZombie(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state === 'Z' || state === 'X';
}

/** /proc/<pid>/stat's fields from the third on (state, ppid, … starttime at [19]), counted
 * after the command's closing parenthesis, since the command may hold spaces; undefined when
 * there is no such process (or no /proc). */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
