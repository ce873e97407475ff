// GitHub's own record of pushes: GET /repos/{owner}/{repo}/activity, newest first, each with
// before, after, ref, a server-side timestamp, activity_type (push, force_push,
// branch_creation, branch_deletion, …) and the actor. Two uses: a rewrite or a deletion that
// happened between two looks is still seen, and the time a checkpoint reached GitHub comes
// from GitHub, not from the host. GitHub does not document how long it keeps this list, so
// the witness reads it every run from where it stopped (the last id it saw).
import { GitHubClient, GitHubError } from './github-client.js';

export interface Activity {
  id: number;
  before: string;
  after: string;
  ref: string;
  /** unix ms */
  time: number;
  type: string;
  actor: string;
}

interface RawActivity {
  id: number;
  before: string;
  after: string;
  ref: string;
  timestamp: string;
  activity_type: string;
  actor?: { login?: string } | null;
}

/** `gap`: the pages the witness may read ended before the last event it had seen — more
 * pushes than it reads in one look came in between (a flood of junk branches can be made to
 * hide a force-push): the events in between are lost for good, and that is said. */
export type ActivityRead =
  | { available: true; events: Activity[]; lastId?: number; gap?: { read: number; oldest: string } }
  | { available: false; reason: string };

const PER_PAGE = 100;

/** Activity newer than `sinceId` on the published branches, oldest first. */
export async function readActivity(
  gh: GitHubClient,
  repository: string,
  sinceId: number | undefined,
  maxPages = 30,
): Promise<ActivityRead> {
  let raw: RawActivity[];
  try {
    raw = await gh.paginate<RawActivity>(
      `/repos/${repository}/activity?per_page=${PER_PAGE}&direction=desc`,
      (page) => page.length > 0 && (sinceId === undefined || page.every((a) => a.id > sinceId)),
      maxPages,
    );
  } catch (err) {
    if (err instanceof GitHubError && [403, 404, 410, 422].includes(err.status))
      return { available: false, reason: err.message };
    throw err;
  }
  const events = raw
    .filter((a) => sinceId === undefined || a.id > sinceId)
    .filter((a) => typeof a.ref === 'string' && a.ref.startsWith('refs/heads/trail/'))
    .map((a) => ({
      id: a.id,
      before: a.before,
      after: a.after,
      ref: a.ref,
      time: Date.parse(a.timestamp),
      type: a.activity_type,
      actor: a.actor?.login ?? 'unknown',
    }))
    .sort((a, b) => a.time - b.time || a.id - b.id);
  const lastId = raw.reduce<number | undefined>((m, a) => (m === undefined || a.id > m ? a.id : m), sinceId);
  // Reached: an event at or before the last one seen, or the end of the list (a short page).
  const reached = sinceId === undefined || raw.some((a) => a.id <= sinceId) || raw.length < maxPages * PER_PAGE;
  const oldest = raw.reduce<RawActivity | undefined>((m, a) => (m === undefined || a.id < m.id ? a : m), undefined);
  return {
    available: true,
    events,
    ...(lastId !== undefined ? { lastId } : {}),
    ...(reached || !oldest ? {} : { gap: { read: raw.length, oldest: oldest.timestamp } }),
  };
}

/** "refs/heads/trail/HOST/NAME/KIND" → its parts. */
export function refParts(ref: string): { host: string; name: string; kind: string } | undefined {
  const m = /^refs\/heads\/trail\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(ref);
  return m ? { host: m[1]!, name: m[2]!, kind: m[3]! } : undefined;
}
