import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../../record/repo/repo.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { errorCode } from '../../util/errors.js';

/** One drift episode: from the first change not accepted to the decision on its PR. */
export interface Episode {
  number: number;
  url: string;
  branch: string;
  /** The observed commit the PR shows last. */
  head: string;
  /** Approved when the PR was opened (what "closed" reverts to is approved at decision time). */
  base: string;
  paths: string[];
  opened: string;
  state: 'open' | 'merged' | 'closed' | 'refused';
  decided?: string;
  /** What trail did about the decision (the commit that recorded it). */
  outcome?: string;
  /** A comment that must still reach the PR: the action is done and recorded, the comment
   * failed; sync posts it again, so GitHub learns of every action. */
  pendingComment?: string;
}

export interface ReviewState {
  episodes: Episode[];
  /** Merges this host refused, by merge commit, so each is reported once. */
  refused: string[];
}

/** Local-only, in the shadow repository's trail/ folder (never pushed). Read and written
 * under the repository's write lock. */
function file(repo: Repo): string {
  return join(repo.stateDir, 'review.json');
}

export async function loadState(repo: Repo): Promise<ReviewState> {
  try {
    const s = JSON.parse(await fsp.readFile(file(repo), 'utf8')) as Partial<ReviewState>;
    return { episodes: s.episodes ?? [], refused: s.refused ?? [] };
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { episodes: [], refused: [] };
    throw err;
  }
}

export async function saveState(repo: Repo, s: ReviewState): Promise<void> {
  s.refused = s.refused.slice(-200);
  await writeFileAtomic(file(repo), JSON.stringify(s, null, 2) + '\n');
}

export function openEpisode(s: ReviewState): Episode | undefined {
  return s.episodes.find((e) => e.state === 'open');
}
