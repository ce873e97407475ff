import { errorCode } from './errors.js';

/**
 * Whether the process that wrote a lock is still running, so that a lock left by one that
 * died (kill -9, power cut) can be taken over. Signal 0 only asks: EPERM means the process
 * exists but belongs to someone else. A pid that is not a positive integer (an owner on
 * another host, a garbled lock) counts as alive: what is not known to be dead is not stolen.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}
