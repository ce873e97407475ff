import { diffStates } from '../../record/model/diff.js';
import { readState } from '../../record/tree/tree-reader.js';
import { Refs, type Repo } from '../../record/repo/repo.js';
import type { Policy } from '../../decide/policy.js';
import { readPolicy } from '../../decide/store.js';
import { driftCommits, prBody, prTitle } from './body.js';
import { GitHub } from './github.js';
import { pushBranch, pushTrail, type PushResult } from './push.js';
import { branches, type ReviewRemote } from './remote.js';
import { loadState, openEpisode, saveState, type Episode } from './state.js';

export interface OpenResult {
  episode?: Episode;
  created: boolean;
  pushed: PushResult[];
  /** Why nothing was opened. */
  note?: string;
}

/**
 * Opens the pull request for the current drift, or updates the one already open for this
 * episode (new head, new title and body): one PR per episode, never a second. Called with the
 * write lock held.
 */
export async function openReview(
  repo: Repo,
  remote: ReviewRemote,
  token: string,
  policy?: Policy,
): Promise<OpenResult> {
  const gh = new GitHub(remote, token);
  const pushed = await pushTrail(repo, remote, token);
  const [approved, observed] = await Promise.all([repo.resolve(Refs.approved), repo.resolve(Refs.observed)]);
  const changes = diffStates(await readState(repo, approved), await readState(repo, observed));
  const state = await loadState(repo);
  let episode = openEpisode(state);
  if (!changes.length) return { episode, created: false, pushed, note: 'no drift: observed matches approved' };
  policy ??= await readPolicy(repo);
  const commits = await driftCommits(repo, approved, observed);
  const title = prTitle(remote.host, repo.info.name, changes, commits);
  const body = await prBody(repo, { host: remote.host, approved, observed, changes, commits, policy });
  const b = branches(remote);

  if (episode) {
    const current = await gh.call(`read pull request #${episode.number}`, (o) =>
      o.rest.pulls.get({ owner: gh.owner, repo: gh.repo, pull_number: episode!.number }),
    );
    if (current.state === 'open') {
      await pushBranch(repo, remote, token, observed, episode.branch);
      await gh.call(`update pull request #${episode.number}`, (o) =>
        o.rest.pulls.update({ owner: gh.owner, repo: gh.repo, pull_number: episode!.number, title, body }),
      );
      episode.head = observed;
      episode.paths = changes.map((c) => c.path);
      await saveState(repo, state);
      return { episode, created: false, pushed };
    }
    // Decided on GitHub but not yet synced here: the decision is sync's to act on; a new
    // episode now would show the same changes twice.
    return {
      episode,
      created: false,
      pushed,
      note: `pull request #${episode.number} was decided on GitHub; run trail review sync`,
    };
  }

  const branch = `${b.reviewPrefix}${observed.slice(0, 12)}`;
  await pushBranch(repo, remote, token, observed, branch);
  // A PR for this branch may exist already: an earlier run created it and died before saving.
  const existing = await gh.call('list pull requests', (o) =>
    o.rest.pulls.list({
      owner: gh.owner,
      repo: gh.repo,
      state: 'open',
      head: `${gh.owner}:${branch}`,
      base: b.approved,
      per_page: 10,
    }),
  );
  const pr = existing[0]
    ? await gh.call(`update pull request #${existing[0].number}`, (o) =>
        o.rest.pulls.update({ owner: gh.owner, repo: gh.repo, pull_number: existing[0]!.number, title, body }),
      )
    : await gh.call('open a pull request', (o) =>
        o.rest.pulls.create({ owner: gh.owner, repo: gh.repo, head: branch, base: b.approved, title, body }),
      );
  episode = {
    number: pr.number,
    url: pr.html_url,
    branch,
    head: observed,
    base: approved,
    paths: changes.map((c) => c.path),
    opened: new Date().toISOString(),
    state: 'open',
  };
  state.episodes.push(episode);
  await saveState(repo, state);
  return { episode, created: !existing[0], pushed };
}
