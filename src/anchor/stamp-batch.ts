// One stamp batch: every queued commit becomes one leaf of a single merkle tree (the
// package's makeMerkleTree: nonce + SHA-256 per leaf, then pairwise SHA-256), the tip is
// submitted once to each calendar, and each commit's own path through the tree plus the
// calendars' answers becomes its .ots note. A batch costs one request per calendar whatever
// its size. Calendars that fail cost nothing but their backoff: the commits stay queued.
import { withAnchorLock } from './anchor-lock.js';
import { submitDigest, CalendarError } from './calendar-client.js';
import { checkAnchorOptions, type AnchorOptions } from './options.js';
import { ots, type OtsTimestamp } from './ots-package.js';
import { publishProofs } from './proofs-branch.js';
import { writeProofNotes } from './shadow-git.js';
import {
  loadQueue,
  saveQueue,
  scanForUnstamped,
  noteCalendarFailure,
  noteCalendarSuccess,
  type StampQueue,
} from './stamp-queue.js';
import { leafForCommit } from './what-is-stamped.js';

export interface StampOptions extends AnchorOptions {
  /** stamp now, ignoring the batch window and calendar backoff (`trail stamp`) */
  force?: boolean;
  /** clock, ms since epoch (tests step it instead of sleeping) */
  now?: number;
  /** ref prefixes whose commits are stamped (default: a shadow repository's, see anchoredRefs) */
  refs?: string[];
  /** false: proofs go to the notes only, not to the proofs branch, which is a host's to
   * publish (the witness stamps its own history: no host branch, no host key) */
  proofsBranch?: boolean;
}

export type StampOutcome =
  | 'stamped' // proofs written for every commit of the batch
  | 'nothing-to-stamp'
  | 'not-due' // the batch window is still open
  | 'deferred' // too few calendars out of backoff; nothing was sent
  | 'too-few-calendars'; // sent, but fewer than minCalendars answered: all stay queued

export interface CalendarOutcome {
  url: string;
  ok: boolean;
  skipped?: boolean; // in backoff, not asked
  error?: string;
}

export interface StampResult {
  outcome: StampOutcome;
  /** commits in this batch (stamped, or still queued on failure) */
  batchSize: number;
  stamped: string[];
  /** commits still waiting after this call */
  queued: number;
  calendars: CalendarOutcome[];
  /** when the next attempt makes sense (ms since epoch), for the daemon's timer */
  nextAttemptAt?: number;
}

export async function stampBatch(gitDir: string, opts: StampOptions): Promise<StampResult> {
  checkAnchorOptions(opts);
  const now = opts.now ?? Date.now();
  return withAnchorLock(gitDir, async () => {
    const q = await loadQueue(gitDir);
    await scanForUnstamped(gitDir, q, now, opts.refs);
    const ids = Object.keys(q.entries);
    const base = { batchSize: ids.length, stamped: [] as string[], queued: ids.length };
    if (ids.length === 0) {
      await saveQueue(gitDir, q);
      return { ...base, outcome: 'nothing-to-stamp', calendars: [] };
    }
    const oldest = ids.reduce((m, id) => Math.min(m, q.entries[id]!.queuedAt), Infinity);
    const dueAt = oldest + opts.batchSeconds * 1000;
    if (!opts.force && now < dueAt) {
      await saveQueue(gitDir, q);
      return { ...base, outcome: 'not-due', calendars: [], nextAttemptAt: dueAt };
    }

    const eligible = opts.calendars.filter((url) => opts.force || (q.calendars[url]?.nextTryAt ?? 0) <= now);
    const skipped: CalendarOutcome[] = opts.calendars
      .filter((url) => !eligible.includes(url))
      .map((url) => ({
        url,
        ok: false,
        skipped: true,
        error: `backing off until ${new Date(q.calendars[url]!.nextTryAt).toISOString()}`,
      }));
    if (eligible.length < opts.minCalendars) {
      await saveQueue(gitDir, q);
      return { ...base, outcome: 'deferred', calendars: skipped, nextAttemptAt: enoughCalendarsAt(q, opts, now) };
    }

    const leaves = ids.map(leafForCommit);
    const tip = ots().makeMerkleTree(leaves);
    if (!tip) throw new Error('merkle tree of the batch could not be built');
    const digest = Buffer.from(tip.msg);
    const answers = await Promise.all(
      eligible.map(async (url): Promise<[CalendarOutcome, OtsTimestamp | undefined]> => {
        try {
          return [{ url, ok: true }, await submitDigest(url, digest, opts.timeoutMs)];
        } catch (err) {
          const reason = err instanceof CalendarError ? err.reason : String((err as Error)?.message ?? err);
          return [{ url, ok: false, error: reason }, undefined];
        }
      }),
    );
    const good = answers.filter(([, t]) => t !== undefined);
    for (const [o] of answers) {
      if (o.ok) noteCalendarSuccess(q, o.url, now);
      else noteCalendarFailure(q, o.url, o.error ?? 'failed', now);
    }
    const calendars = [...answers.map(([o]) => o), ...skipped];

    if (good.length < opts.minCalendars) {
      const why = `${good.length} of ${opts.minCalendars} required calendars answered`;
      for (const id of ids) {
        const e = q.entries[id]!;
        e.attempts += 1;
        e.lastError = why;
      }
      await saveQueue(gitDir, q);
      return { ...base, outcome: 'too-few-calendars', calendars, nextAttemptAt: enoughCalendarsAt(q, opts, now) };
    }

    // The tip is a node shared by every leaf's tree: merging the answers there completes
    // all the proofs at once.
    for (const [, t] of good) tip.merge(t!);
    const proofs = new Map<string, Uint8Array>();
    ids.forEach((id, i) => proofs.set(id, leaves[i]!.serializeToBytes()));
    const message = `trail: stamped ${ids.length} commit(s) with ${good.map(([o]) => o.url).join(', ')}`;
    // The branch first: a kill between the two leaves the commits queued (no note), and the
    // next batch replaces the branch's copy; the other way round, a proof would be noted
    // and never published.
    if (opts.proofsBranch !== false) await publishProofs(gitDir, proofs, message);
    await writeProofNotes(gitDir, proofs, message);
    for (const id of ids) delete q.entries[id];
    q.lastBatchAt = now;
    await saveQueue(gitDir, q);
    return { ...base, outcome: 'stamped', stamped: ids, queued: 0, calendars };
  });
}

/** When minCalendars calendars will be out of backoff again. */
function enoughCalendarsAt(q: StampQueue, opts: AnchorOptions, now: number): number {
  const ready = opts.calendars.map((url) => Math.max(now, q.calendars[url]?.nextTryAt ?? 0)).sort((a, b) => a - b);
  return ready[opts.minCalendars - 1] ?? now;
}
