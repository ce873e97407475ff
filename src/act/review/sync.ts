import { Refs, type Repo } from '../../record/repo/repo.js';
import { readPolicy } from '../../decide/store.js';
import { display } from '../../util/bytes.js';
import { hostName } from '../../util/accounts.js';
import { sendAlert } from '../alert.js';
import { revert } from '../revert.js';
import { GitHub, type PullRequest, type PullSummary } from './github.js';
import { fetchApproved, pushTrail, resetRemoteApproved } from './push.js';
import { branches, type ReviewRemote } from './remote.js';
import { loadState, saveState, type Episode, type ReviewState } from './state.js';
import { validateIncoming } from './validate.js';

export interface SyncAction {
  pr?: number;
  kind: 'accepted' | 'applied' | 'reverted' | 'refused' | 'commented' | 'pushed';
  message: string;
  commit?: string;
}

export interface SyncResult {
  actions: SyncAction[];
  open: Episode[];
}

interface Ctx {
  repo: Repo;
  remote: ReviewRemote;
  token: string;
  gh: GitHub;
  self: string;
  state: ReviewState;
  actions: SyncAction[];
}

/**
 * Acts on what was decided on GitHub since the last sync. Called with the write lock held,
 * from `trail review sync`, from `trail serve` after a webhook, or after a push was rejected.
 * GitHub's API is the authority, never a webhook's payload: a webhook only says "look now".
 * Each step is idempotent and saved when done, so an error (GitHub down, rate limit, a kill)
 * leaves the decision to the next sync: none is lost, none is applied twice.
 */
export async function syncReview(repo: Repo, remote: ReviewRemote, token: string): Promise<SyncResult> {
  const gh = new GitHub(remote, token);
  const ctx: Ctx = { repo, remote, token, gh, self: await gh.self(), state: await loadState(repo), actions: [] };
  await flushComments(ctx);
  await syncApproved(ctx);
  await syncClosed(ctx);
  return { actions: ctx.actions, open: ctx.state.episodes.filter((e) => e.state === 'open') };
}

async function isAncestor(repo: Repo, a: string, b: string): Promise<boolean> {
  return (await repo.git(['merge-base', '--is-ancestor', a, b], { okCodes: [0, 1] })).code === 0;
}

/** Posts a comment; when GitHub fails, keeps it on the episode for the next sync. */
async function comment(ctx: Ctx, ep: Episode, text: string): Promise<void> {
  try {
    await ctx.gh.call(`comment on pull request #${ep.number}`, (o) =>
      o.rest.issues.createComment({ owner: ctx.gh.owner, repo: ctx.gh.repo, issue_number: ep.number, body: text }),
    );
    ep.pendingComment = undefined;
    ctx.actions.push({ pr: ep.number, kind: 'commented', message: text.split('\n')[0]! });
  } catch (err) {
    ep.pendingComment = [ep.pendingComment, text].filter(Boolean).join('\n\n');
    ctx.actions.push({
      pr: ep.number,
      kind: 'commented',
      message: `comment kept for the next sync: ${(err as Error).message}`,
    });
  }
  await saveState(ctx.repo, ctx.state);
}

async function flushComments(ctx: Ctx): Promise<void> {
  for (const ep of ctx.state.episodes) {
    if (!ep.pendingComment) continue;
    const text = ep.pendingComment;
    ep.pendingComment = undefined;
    await comment(ctx, ep, text);
  }
}

function episodeFor(ctx: Ctx, pr: PullSummary | PullRequest): Episode {
  let ep = ctx.state.episodes.find((e) => e.number === pr.number);
  if (!ep) {
    ep = {
      number: pr.number,
      url: pr.html_url,
      branch: pr.head.ref,
      head: pr.head.sha,
      base: pr.base.sha,
      paths: [],
      opened: pr.created_at,
      state: 'open',
    };
    ctx.state.episodes.push(ep);
  }
  return ep;
}

/** Approvals that count: the latest review of each allowed reviewer, on the commit that was
 * merged (an approval of an earlier head approved other content), never trail's own. */
async function countApprovals(ctx: Ctx, pr: PullSummary | PullRequest): Promise<{ count: number; by: string[] }> {
  const reviews = await ctx.gh.call(`read the reviews of pull request #${pr.number}`, (o) =>
    o
      .paginate(o.rest.pulls.listReviews, {
        owner: ctx.gh.owner,
        repo: ctx.gh.repo,
        pull_number: pr.number,
        per_page: 100,
      })
      .then((data) => ({ data })),
  );
  const latest = new Map<string, { state: string; commit: string | null | undefined }>();
  for (const r of reviews) {
    const login = r.user?.login;
    if (!login || r.state === 'COMMENTED' || r.state === 'PENDING') continue;
    latest.set(login.toLowerCase(), { state: r.state, commit: r.commit_id });
  }
  const allowed = new Set(ctx.remote.reviewers.map((r) => r.toLowerCase()));
  const by = [...latest]
    .filter(
      ([login, r]) =>
        r.state === 'APPROVED' &&
        r.commit === pr.head.sha &&
        login !== ctx.self.toLowerCase() &&
        (!allowed.size || allowed.has(login)),
    )
    .map(([login]) => login);
  return { count: by.length, by };
}

/** GitHub's approved branch moved: every commit on it since this host's approved must be
 * the merge of a pull request into it that met the review rule; then it is accepted (trail's
 * own PR: the host already has it) or applied (a change made on GitHub). */
async function syncApproved(ctx: Ctx): Promise<void> {
  const { repo, remote, token } = ctx;
  const b = branches(remote);
  const remoteTip = await fetchApproved(repo, remote, token);
  let local = await repo.resolve(Refs.approved);
  if (!remoteTip || remoteTip === local || (await isAncestor(repo, remoteTip, local))) {
    const pushed = await pushTrail(repo, remote, token);
    const moved = pushed.filter((p) => p.ok && p.status !== 'up to date');
    if (moved.length)
      ctx.actions.push({ kind: 'pushed', message: moved.map((p) => `${p.remote} ${p.status}`).join(', ') });
    return;
  }
  const refuse = async (message: string, ep?: Episode) => {
    if (ep) {
      ep.state = 'refused';
      ep.decided = new Date().toISOString();
      ep.outcome = message;
    }
    const reset = await resetRemoteApproved(repo, remote, token, remoteTip);
    const full = `${message}; ${reset ? `${b.approved} on GitHub was put back to ${local.slice(0, 12)}` : `${b.approved} on GitHub could not be put back (it moved again, or a ruleset refuses the force-push)`}`;
    ctx.actions.push({ pr: ep?.number, kind: 'refused', message: full });
    if (!ctx.state.refused.includes(remoteTip)) {
      ctx.state.refused.push(remoteTip);
      try {
        const policy = await readPolicy(repo);
        await sendAlert(repo, policy, `${repo.info.name}: ${full}`, {
          event: 'review-refused',
          host: hostName(),
          trail: { name: repo.info.name, dir: repo.info.dir },
          branch: b.approved,
          remoteTip,
          approved: local,
          pr: ep?.number ?? null,
          message: full,
        });
      } catch {
        /* the refusal stands and is in the output; an alert channel down changes nothing */
      }
    }
    await saveState(repo, ctx.state);
    if (ep)
      await comment(
        ctx,
        ep,
        `**Not applied on ${remote.host}.** ${message}.\n\nThe approved branch was put back to what the host holds; open a new pull request to propose the change again.`,
      );
  };

  if (!(await isAncestor(repo, local, remoteTip)))
    return refuse(`${b.approved} on GitHub was rewritten (not a fast-forward of ${local.slice(0, 12)}): refused`);
  const chain = (await repo.git(['rev-list', '--first-parent', '--reverse', remoteTip, `^${local}`])).stdout
    .toString()
    .split('\n')
    .filter(Boolean);
  const merged = await ctx.gh.call(`list pull requests merged into ${b.approved}`, (o) =>
    o.rest.pulls.list({
      owner: ctx.gh.owner,
      repo: ctx.gh.repo,
      state: 'closed',
      base: b.approved,
      sort: 'updated',
      direction: 'desc',
      per_page: 100,
    }),
  );
  const byMerge = new Map(merged.filter((p) => p.merged_at && p.merge_commit_sha).map((p) => [p.merge_commit_sha!, p]));
  for (const c of chain) {
    const parents = (await repo.git(['rev-list', '--parents', '-n', '1', c])).stdout
      .toString()
      .trim()
      .split(' ')
      .slice(1);
    const pr = byMerge.get(c);
    if (!pr || parents[0] !== local)
      return refuse(
        `commit ${c.slice(0, 12)} reached ${b.approved} without a merged pull request (a direct push): refused`,
      );
    const ep = episodeFor(ctx, pr);
    const full = await ctx.gh.call(`read pull request #${pr.number}`, (o) =>
      o.rest.pulls.get({ owner: ctx.gh.owner, repo: ctx.gh.repo, pull_number: pr.number }),
    );
    const merger = full.merged_by?.login ?? 'unknown';
    const approvals = await countApprovals(ctx, pr);
    if (approvals.count < remote.requiredApprovals) {
      return refuse(
        `pull request #${pr.number} was merged by ${merger} with ${approvals.count} of ${remote.requiredApprovals} required approval${remote.requiredApprovals === 1 ? '' : 's'} on its last commit${remote.reviewers.length ? ` by ${remote.reviewers.join(', ')}` : ''}`,
        ep,
      );
    }
    const trailPr =
      pr.head.ref.startsWith(b.reviewPrefix) &&
      (await repo.readRef(pr.head.sha)) !== undefined &&
      (await isAncestor(repo, pr.head.sha, Refs.observed));
    const approvedBy = approvals.by.join(', ') || 'no review required';
    if (trailPr && parents[1] === pr.head.sha) {
      await repo.updateRef(Refs.approved, c, local, `trail review: PR #${pr.number} merged by ${merger}`);
      local = c;
      ep.state = 'merged';
      ep.decided = new Date().toISOString();
      ep.outcome = `accepted: approved is ${c}`;
      await saveState(repo, ctx.state);
      ctx.actions.push({
        pr: pr.number,
        kind: 'accepted',
        commit: c,
        message: `#${pr.number} merged by ${merger} (approved by ${approvedBy}): approved is now ${c.slice(0, 12)}`,
      });
      await comment(
        ctx,
        ep,
        `**Accepted on ${remote.host}.** Approved is now \`${c.slice(0, 12)}\` (merged by ${merger}, approved by ${approvedBy}); the host already holds these changes.`,
      );
      continue;
    }
    const v = await validateIncoming(repo, remote, local, c);
    if (!v.ok) {
      const list = v.problems
        .slice(0, 30)
        .map((p) => `- ${p.replace(/[`\u0000-\u001f]/g, ' ')}`)
        .join('\n');
      await refuse(`pull request #${pr.number} (merged by ${merger}) was refused by validation:\n${list}`, ep);
      return;
    }
    const paths = v.changes.map((x) => x.path);
    // Paths the host changed since approved (recorded on observed, not reviewed): the merged
    // version replaces them. Nothing is lost — those changes stay in the trail — but the
    // people who merged decided without them, so it is said, here and on the pull request.
    const since = paths.length ? await changedSince(repo, local, paths) : [];
    let applied: string | undefined;
    let left: string[] = [];
    if (paths.length) {
      const r = await revert(repo, c, paths, {
        actor: { name: merger },
        subject: `review: applied pull request #${pr.number} merged by ${merger} on GitHub`,
        trailers: {
          'Trail-Review': `applied: PR #${pr.number} merged by ${merger}, approved by ${approvedBy}`,
          'Trail-Pull-Request': full.html_url,
          'Trail-Merged-By': merger,
        },
      });
      applied = r.after?.commit;
      left = r.left;
    }
    await repo.updateRef(Refs.approved, c, local, `trail review: applied PR #${pr.number} merged by ${merger}`);
    local = c;
    ep.state = 'merged';
    ep.decided = new Date().toISOString();
    ep.paths = paths;
    ep.outcome = `applied in ${applied ?? '(nothing to change)'}`;
    await saveState(repo, ctx.state);
    ctx.actions.push({
      pr: pr.number,
      kind: 'applied',
      commit: applied,
      message: `#${pr.number} merged by ${merger}: applied ${paths.map(display).join(', ') || 'nothing'}${since.length ? `; it replaced what the host had changed since approved in ${since.map(display).join(', ')} (kept in the trail)` : ''}${left.length ? `; not restored: ${left.join('; ')}` : ''}`,
    });
    await comment(
      ctx,
      ep,
      `**Applied on ${remote.host}** as \`${applied?.slice(0, 12) ?? 'no change'}\`: ${paths.length} path${paths.length === 1 ? '' : 's'} (merged by ${merger}, approved by ${approvedBy}).${since.length ? `\n\nThe host had changed these paths since approved; the merged version replaced them (the host's versions stay in its trail):\n${since.map((x) => `- ${display(x).replace(/[`\u0000-\u001f]/g, ' ')}`).join('\n')}` : ''}${left.length ? `\n\nCould not be restored:\n${left.map((l) => `- ${l.replace(/[`\u0000-\u001f]/g, ' ')}`).join('\n')}` : ''}`,
    );
  }
  // Observed and the notes go up too, now that approved matches again.
  await pushTrail(repo, remote, token);
}

/**
 * A merged PR whose episode is still open though approved holds its merge: a sync killed
 * after it moved approved and before it saved the episode. Recorded now; left open, the
 * episode stood for ever (the merge is no longer ahead of approved, so no sync took it up
 * again), and every later change was told "decided on GitHub; run trail review sync"
 * instead of getting a pull request of its own.
 */
async function mergedAlready(ctx: Ctx, ep: Episode, merge: string | null | undefined): Promise<void> {
  if (!merge) return;
  let held = false;
  try {
    held = await isAncestor(ctx.repo, merge, Refs.approved);
  } catch {
    return; // the merge is not here: the sync that fetches it decides
  }
  if (!held) return;
  ep.state = 'merged';
  ep.decided = new Date().toISOString();
  ep.outcome = `accepted: approved holds ${merge}`;
  await saveState(ctx.repo, ctx.state);
  ctx.actions.push({
    pr: ep.number,
    kind: 'accepted',
    commit: merge,
    message: `#${ep.number}: approved already holds its merge ${merge.slice(0, 12)} (a sync was interrupted before it said so)`,
  });
}

/** Trail's PRs closed without merging: those paths go back to approved on the host. */
async function syncClosed(ctx: Ctx): Promise<void> {
  const { repo, remote } = ctx;
  for (const ep of ctx.state.episodes.filter((e) => e.state === 'open')) {
    const pr = await ctx.gh.call(`read pull request #${ep.number}`, (o) =>
      o.rest.pulls.get({ owner: ctx.gh.owner, repo: ctx.gh.repo, pull_number: ep.number }),
    );
    if (pr.state !== 'closed') continue;
    if (pr.merged) {
      await mergedAlready(ctx, ep, pr.merge_commit_sha);
      continue;
    }
    const issue = await ctx.gh.call(`read who closed #${ep.number}`, (o) =>
      o.rest.issues.get({ owner: ctx.gh.owner, repo: ctx.gh.repo, issue_number: ep.number }),
    );
    const closer = issue.closed_by?.login ?? 'unknown';
    const approved = await repo.resolve(Refs.approved);
    const paths = ep.paths.length ? ep.paths : [];
    if (!paths.length) {
      ep.state = 'closed';
      await saveState(repo, ctx.state);
      continue;
    }
    const r = await revert(repo, approved, paths, {
      actor: { name: closer },
      subject: `review: pull request #${ep.number} closed by ${closer} on GitHub; reverted ${paths.map(display).join(', ')} to approved`,
      trailers: {
        'Trail-Policy': 'review',
        'Trail-Review': `rejected: PR #${ep.number} closed by ${closer}`,
        'Trail-Pull-Request': pr.html_url,
      },
    });
    ep.state = 'closed';
    ep.decided = new Date().toISOString();
    ep.outcome = `reverted in ${r.after?.commit ?? '?'}`;
    await saveState(repo, ctx.state);
    ctx.actions.push({
      pr: ep.number,
      kind: 'reverted',
      commit: r.after?.commit,
      message: `#${ep.number} closed by ${closer}: reverted ${paths.map(display).join(', ')} to approved ${approved.slice(0, 12)}${r.left.length ? `; not restored: ${r.left.join('; ')}` : ''}`,
    });
    await comment(
      ctx,
      ep,
      `**Reverted on ${remote.host}** to approved \`${approved.slice(0, 12)}\` as \`${r.after?.commit?.slice(0, 12) ?? '?'}\`: ${paths.length} path${paths.length === 1 ? '' : 's'} (closed by ${closer}).${r.left.length ? `\n\nCould not be restored:\n${r.left.map((l) => `- ${l.replace(/[`\u0000-\u001f]/g, ' ')}`).join('\n')}` : ''}`,
    );
  }
  // The trail now holds the revert: GitHub should see it.
  if (ctx.actions.some((a) => a.kind === 'reverted')) await pushTrail(repo, remote, ctx.token);
}

/** Which of `paths` observed holds otherwise than `approved` does: the host's unreviewed
 * changes to them. One tree diff (trail's own .trail/ left out: a metadata-only change shows
 * in its folder's manifest, and is not told apart here). */
async function changedSince(repo: Repo, approved: string, paths: string[]): Promise<string[]> {
  const r = await repo.git(['diff-tree', '-r', '-z', '--name-only', '--no-renames', approved, Refs.observed]);
  const changed = new Set(
    r.stdout
      .toString('latin1')
      .split('\0')
      .filter((p) => p && !p.startsWith('.trail/')),
  );
  return paths.filter((p) => changed.has(p));
}
