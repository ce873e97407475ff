import { errorCode } from '../util/errors.js';

/**
 * When a failed piece of work is tried again. Pure: the pieces that fail (a window's commit,
 * a reconcile, an anchoring job) ask here and keep their own timers.
 */

/** A reconcile that failed (the lock busy, the disk full) is tried again after this. */
export const RECONCILE_RETRY_MS = 10_000;
/** An anchoring job that failed as a whole (a broken install, a damaged queue): not every
 * minute, but in a few minutes, and it says so each time. */
export const ANCHOR_RETRY_MS = 300_000;

/** A window whose commit failed keeps its paths and is tried again: 1, 2, 4, 8, 16 s, then
 * every 30 s while the disk stays full or the lock busy. `failures` counts from 1. */
export function commitRetryDelayMs(failures: number): number {
  return Math.min(1000 * 2 ** Math.min(Math.max(failures, 1) - 1, 5), 30_000);
}

/** Why a commit failed, in the words of the log line. */
export function failureReason(err: unknown): string {
  if (errorCode(err) === 'ENOSPC' || errorCode(err) === 'EDQUOT') return 'no space left for the shadow repository';
  return err instanceof Error ? err.message : String(err);
}
