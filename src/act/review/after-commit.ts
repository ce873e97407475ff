import type { Repo } from '../../record/repo/repo.js';
import type { Policy } from '../../decide/policy.js';
import { readRemote, readToken } from './remote.js';

export interface ReviewOutcome {
  number?: number;
  url?: string;
  created?: boolean;
  /** Why no pull request could be opened: the caller alerts instead, so a review rule never
   * goes silent. */
  error?: string;
}

/** After a commit with changes under a `review` rule: the PR for this drift episode, when a
 * review remote is set; undefined when none is (review rules then alert, as before). */
export async function reviewAfterCommit(repo: Repo, policy: Policy): Promise<ReviewOutcome | undefined> {
  const remote = await readRemote(repo);
  if (!remote) return undefined;
  try {
    const token = await readToken(remote);
    // Loaded only here: octokit is megabytes a daemon without a review remote never needs.
    const { openReview } = await import('./open.js');
    const r = await openReview(repo, remote, token, policy);
    if (!r.episode) return { error: r.note ?? 'no pull request' };
    return { number: r.episode.number, url: r.episode.url, created: r.created };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
