import { createHash } from 'node:crypto';
import { PUBLISHED_BRANCHES, Refs } from '../../util/refs.js';
import type { ReviewRemote } from '../review/remote.js';

/**
 * What leaves the host: an allow-list, never "everything but the secrets". A ref not named
 * here is local-only (refs/trail/secrets, config, policy, logs-data, review bookkeeping, the
 * pushed marks below) and no code path in trail can push it. The table is README's
 * "Formats (what leaves the host)".
 */
export interface PublishedRef {
  /** The branch name under trail/HOST/NAME/ (and the name in status and alarms). */
  name: string;
  /** The local ref. */
  local: string;
}

export const PUBLISHED: readonly PublishedRef[] = [
  // The branches of util/refs.ts, where every ref trail writes is named.
  ...Object.entries(PUBLISHED_BRANCHES).map(([name, local]) => ({ name, local })),
  // The proofs as notes, for readers older than the proofs branch; not a branch (no ruleset
  // protects it), pushed without force like the rest.
  { name: 'notes', local: Refs.notes },
];

const ALLOWED = new Set(PUBLISHED.map((p) => p.local));

/** The remote ref a published ref goes to. */
export function remoteRefOf(p: PublishedRef, remote: Pick<ReviewRemote, 'prefix'>): string {
  return p.name === 'notes' ? `refs/notes/${remote.prefix}/ots` : `refs/heads/${remote.prefix}/${p.name}`;
}

/** The last guard before git push: a source that is not on the allow-list is a bug. */
export function assertPublishable(localRef: string): void {
  if (!ALLOWED.has(localRef))
    throw new Error(`refusing to push ${localRef}: only the published refs leave the host, never trail's local refs`);
}

/**
 * Where the last commit pushed of each published ref is remembered: local-only refs (under
 * refs/trail/, so never pushed themselves), moved only after the remote accepted the push.
 * git's own refs are the queue: the backlog is what the local ref reaches and its mark does
 * not, and nothing is lost when trail stops. One folder per remote (a hash of its URL and
 * branch prefix), so that pointing trail at another repository starts from "nothing pushed".
 */
export function pushedRef(remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>, name: string): string {
  const id = createHash('sha256').update(`${remote.gitUrl}\n${remote.prefix}`).digest('hex').slice(0, 12);
  return `refs/trail/pushed/${id}/${name}`;
}
