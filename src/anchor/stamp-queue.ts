// The queue of commits waiting for a calendar stamp, and each calendar's backoff. It lives
// in the shadow git dir (<gitdir>/trail/anchor-queue.json) because it is state about that
// repository, and it is rewritten whole through temp + fsync + rename so that a crash leaves
// either the old or the new queue, never half of one. Losing it entirely loses nothing
// either: `scanForUnstamped` rebuilds it from the refs and the notes.
import { promises as fsp, constants as C } from 'node:fs';
import { join } from 'node:path';
import { anchorStateDir } from './anchor-lock.js';
import { anchoredRefs, listCommits, listNotes, everNoted } from './shadow-git.js';

export interface QueuedCommit {
  /** ms since epoch when trail first saw the commit without a proof */
  queuedAt: number;
  /** failed batch attempts that included this commit */
  attempts: number;
  lastError?: string;
}

export interface CalendarHealth {
  /** consecutive failures; 0 once it answers again */
  failures: number;
  /** ms since epoch before which the calendar is not asked again (unless forced) */
  nextTryAt: number;
  lastError?: string;
  lastOkAt?: number;
}

export interface StampQueue {
  version: 1;
  entries: Record<string, QueuedCommit>;
  calendars: Record<string, CalendarHealth>;
  lastBatchAt?: number;
  lastScanAt?: number;
}

const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 60 * 60_000;

/** 30 s, 1 min, 2 min, … capped at one hour: a calendar that is down for a day costs about
 * 30 requests, and one that comes back is used again within the hour. */
export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
}

function queueFile(gitDir: string): string {
  return join(anchorStateDir(gitDir), 'anchor-queue.json');
}

export async function loadQueue(gitDir: string): Promise<StampQueue> {
  let text: string;
  try {
    text = await fsp.readFile(queueFile(gitDir), 'utf8');
  } catch {
    return { version: 1, entries: {}, calendars: {} };
  }
  try {
    const q = JSON.parse(text) as StampQueue;
    if (q.version === 1 && q.entries && q.calendars) return q;
  } catch {
    /* fall through: a damaged queue is rebuilt from the refs by the next scan */
  }
  return { version: 1, entries: {}, calendars: {} };
}

export async function saveQueue(gitDir: string, q: StampQueue): Promise<void> {
  const dir = anchorStateDir(gitDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = queueFile(gitDir);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC, 0o600);
  try {
    await fh.writeFile(JSON.stringify(q));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const d = await fsp.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Adds every commit on an anchored ref that has neither a proof note nor a queue entry, and
 * drops entries that got a note meanwhile (or whose commit left every ref). Returns how many
 * were added.
 */
export async function scanForUnstamped(
  gitDir: string,
  q: StampQueue,
  now = Date.now(),
  prefixes?: string[],
): Promise<number> {
  const refs = await anchoredRefs(gitDir, prefixes);
  const commits = await listCommits(gitDir, [...refs.values()]);
  const notes = await listNotes(gitDir);
  const reachable = new Set<string>();
  const candidates = commits.filter((c) => !notes.has(c.id) && !q.entries[c.id]);
  for (const c of commits) reachable.add(c.id);
  // A commit whose proof once existed and is gone was not "never stamped": re-stamping it
  // would paper over the deletion. It stays unqueued, and verify reports the missing proof.
  const hadProof = candidates.length ? await everNoted(gitDir) : new Set<string>();
  let added = 0;
  for (const c of candidates) {
    if (hadProof.has(c.id)) continue;
    q.entries[c.id] = { queuedAt: now, attempts: 0 };
    added++;
  }
  for (const id of Object.keys(q.entries)) {
    if (notes.has(id) || !reachable.has(id)) delete q.entries[id];
  }
  q.lastScanAt = now;
  return added;
}

export function noteCalendarFailure(q: StampQueue, url: string, error: string, now: number): void {
  const h = (q.calendars[url] ??= { failures: 0, nextTryAt: 0 });
  h.failures += 1;
  h.nextTryAt = now + backoffMs(h.failures);
  h.lastError = error;
}

export function noteCalendarSuccess(q: StampQueue, url: string, now: number): void {
  q.calendars[url] = { failures: 0, nextTryAt: 0, lastOkAt: now };
}

export interface QueueSummary {
  queued: number;
  /** ms since epoch of the oldest unanchored commit, for "unanchored for how long" */
  oldestQueuedAt?: number;
  lastBatchAt?: number;
  calendarsBackingOff: { url: string; failures: number; nextTryAt: number; lastError?: string }[];
}

/** What `trail status` shows: how many commits wait for a stamp and since when. */
export async function queueSummary(gitDir: string): Promise<QueueSummary> {
  const q = await loadQueue(gitDir);
  const times = Object.values(q.entries).map((e) => e.queuedAt);
  return {
    queued: times.length,
    ...(times.length ? { oldestQueuedAt: times.reduce((a, b) => Math.min(a, b)) } : {}),
    ...(q.lastBatchAt !== undefined ? { lastBatchAt: q.lastBatchAt } : {}),
    calendarsBackingOff: Object.entries(q.calendars)
      .filter(([, h]) => h.failures > 0)
      .map(([url, h]) => ({
        url,
        failures: h.failures,
        nextTryAt: h.nextTryAt,
        ...(h.lastError ? { lastError: h.lastError } : {}),
      })),
  };
}

export interface Unanchored {
  /** Commits on anchored refs without a proof note (queued or not yet queued). */
  count: number;
  /** Commit time (unix seconds) of the oldest of them. */
  oldest?: number;
}

/** What `trail status` shows of anchoring: how many commits have no proof yet, since when. */
export async function unanchoredCommits(gitDir: string): Promise<Unanchored> {
  const refs = await anchoredRefs(gitDir);
  const commits = await listCommits(gitDir, [...refs.values()]);
  const notes = await listNotes(gitDir);
  const missing = commits.filter((c) => !notes.has(c.id));
  return { count: missing.length, ...(missing.length ? { oldest: Math.min(...missing.map((c) => c.time)) } : {}) };
}
