// Check 1: history only grows. For each published branch, the tip accepted at the last look
// must be an ancestor of (or equal to) the tip fetched now. A rewrite, a reset or a deletion
// is a finding, and what it dropped is kept in the mirror. GitHub's activity list adds the
// rewrites and deletions that happened between two looks (pushed and undone unseen).
import type { Activity } from './activity-reader.js';
import { refParts } from './activity-reader.js';
import type { Kind } from './checkpoint-record.js';
import { iso, type NewFinding } from './findings.js';
import { isAncestor, lostCommits } from './git-reader.js';
import { keptRef } from './mirror.js';

export type Growth = 'same' | 'created' | 'grew' | 'rewritten' | 'deleted' | 'absent';

export interface BranchLook {
  kind: Kind;
  ref: string;
  old?: string;
  now?: string;
  growth: Growth;
  /** commits on `now` that were not there at the last look, newest first */
  added: string[];
  /** commits of `old` that `now` no longer has (rewritten or deleted), newest first */
  lost: string[];
}

/** The commits of `graph` (new commits and their parents) reachable from `tip`, and where
 * the walk left the new part of the graph. */
export function walkNew(graph: Map<string, string[]>, tip: string): { added: string[]; boundary: Set<string> } {
  const added: string[] = [];
  const boundary = new Set<string>();
  const seen = new Set<string>();
  const stack = [tip];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const parents = graph.get(id);
    if (!parents) {
      boundary.add(id);
      continue;
    }
    added.push(id);
    for (const p of parents) stack.push(p);
  }
  return { added, boundary };
}

export async function lookAtBranch(
  gitDir: string,
  graph: Map<string, string[]>,
  ref: string,
  kind: Kind,
  old: string | undefined,
  now: string | undefined,
): Promise<BranchLook> {
  const base = { kind, ref, ...(old ? { old } : {}), ...(now ? { now } : {}) };
  if (!old && !now) return { ...base, growth: 'absent', added: [], lost: [] };
  if (!now) return { ...base, growth: 'deleted', added: [], lost: await lostCommits(gitDir, old!, undefined) };
  if (old === now) return { ...base, growth: 'same', added: [], lost: [] };
  const { added, boundary } = walkNew(graph, now);
  if (!old) return { ...base, growth: 'created', added, lost: [] };
  // The usual case: the old tip is a parent of the first new commit. Otherwise ask git
  // (approved may move onto commits that observed already had).
  let grew = boundary.has(old);
  if (!grew) for (const b of boundary) if ((grew = await isAncestor(gitDir, old, b))) break;
  if (grew) return { ...base, growth: 'grew', added, lost: [] };
  return { ...base, growth: 'rewritten', added, lost: await lostCommits(gitDir, old, now) };
}

export interface Where {
  repository: string;
  host: string;
  name: string;
}

function list(ids: string[], n = 10): string {
  return ids.slice(0, n).join(', ') + (ids.length > n ? ` and ${ids.length - n} more` : '');
}

/** Findings for a branch that did not only grow. */
export function ancestryFindings(
  w: Where,
  b: BranchLook,
  times: { lastLook?: number; seenAt: number },
  activity: Activity[],
): NewFinding[] {
  const out: NewFinding[] = [];
  const kept = b.old ? keptRef(w.repository, w.host, w.name, b.kind, b.old) : '';
  const gh = activity.find(
    (a) =>
      a.ref === b.ref &&
      ((b.growth === 'rewritten' && a.type === 'force_push' && (a.before === b.old || a.after === b.now)) ||
        (b.growth === 'deleted' && a.type === 'branch_deletion')),
  );
  const times2: Record<string, string> = {
    ...(times.lastLook ? { witnessLastLook: iso(times.lastLook) } : {}),
    witnessSawChange: iso(times.seenAt),
    ...(gh ? { githubActivity: iso(gh.time) } : {}),
  };
  const by = gh ? ` GitHub records it at ${iso(gh.time)}, pushed by ${gh.actor}.` : '';
  if (b.growth === 'rewritten') {
    out.push({
      key: `rewrite|${w.repository}|${b.ref}|${b.old}`,
      kind: 'rewrite',
      severity: 'finding',
      event: true,
      ...w,
      ref: b.ref,
      commits: [b.old!, b.now!, ...b.lost.slice(0, 50)],
      times: times2,
      title: `${b.kind} of ${w.host}/${w.name} was rewritten`,
      message:
        `The branch ${b.ref} no longer contains the commit ${b.old} that the witness accepted at its last look; it now points at ${b.now}. ` +
        `${b.lost.length} commit(s) were taken out of the published history (${list(b.lost)}).${by} ` +
        `History that only grows never does this: someone force-pushed or reset the branch. The witness keeps the old history under ${kept}.`,
    });
  } else if (b.growth === 'deleted') {
    out.push({
      key: `deleted|${w.repository}|${b.ref}|${b.old}`,
      kind: 'branch-deleted',
      severity: 'finding',
      event: true,
      ...w,
      ref: b.ref,
      commits: [b.old!, ...b.lost.slice(0, 50)],
      times: times2,
      title: `${b.kind} of ${w.host}/${w.name} was deleted on GitHub`,
      message:
        `The branch ${b.ref} is gone from GitHub; at the witness's last look it pointed at ${b.old} (${b.lost.length} commit(s)).${by} ` +
        `A published trail branch is never deleted by trail. The witness keeps the history under ${kept}.`,
    });
  }
  return out;
}

/** Rewrites and deletions GitHub recorded between two looks that the ancestry check cannot
 * see by itself (pushed and undone before the witness looked). */
export function activityFindings(repository: string, events: Activity[], known: Set<string>): NewFinding[] {
  const out: NewFinding[] = [];
  for (const a of events) {
    if (a.type !== 'force_push' && a.type !== 'branch_deletion') continue;
    const p = refParts(a.ref);
    if (!p) continue;
    const w = { repository, host: p.host, name: p.name };
    const deleted = a.type === 'branch_deletion';
    const unseen = known.has(a.before)
      ? ''
      : ` The witness never fetched ${a.before}: it was pushed and replaced between two looks, so its content is lost to the witness too.`;
    out.push({
      key: `${deleted ? 'deleted' : 'rewrite'}|${repository}|${a.ref}|${a.before}`,
      kind: deleted ? 'branch-deleted' : 'rewrite',
      severity: 'finding',
      event: true,
      ...w,
      ref: a.ref,
      commits: deleted ? [a.before] : [a.before, a.after],
      times: { githubActivity: iso(a.time) },
      title: `${p.kind} of ${p.host}/${p.name} was ${deleted ? 'deleted' : 'force-pushed'} (GitHub activity)`,
      message: deleted
        ? `GitHub records the deletion of ${a.ref} (it pointed at ${a.before}) at ${iso(a.time)} by ${a.actor}.${unseen}`
        : `GitHub records a force push to ${a.ref} at ${iso(a.time)} by ${a.actor}: ${a.before} was replaced by ${a.after}, which does not contain it.${unseen}`,
    });
  }
  return out;
}
