import type { Repo } from '../../record/repo/repo.js';
import type { ReviewRemote } from '../review/remote.js';
import { PUBLISHED, pushedRef, type PublishedRef } from './published-refs.js';

/** A published ref as it stands: its local head and the last commit the remote accepted. */
export interface RefTips extends PublishedRef {
  head: string;
  /** Undefined: nothing pushed to this remote yet (or before marks existed). */
  pushed?: string;
}

export interface RefBacklog {
  name: string;
  local: string;
  head: string | null;
  pushed: string | null;
  /** Commits the local ref reaches and its mark does not. */
  commits: number;
  /** Committer time (unix seconds) of the oldest of them. */
  oldest: number | null;
}

export interface Backlog {
  refs: RefBacklog[];
  /** Distinct commits not yet pushed, over all published refs (a commit on observed and
   * approved counts once; one already pushed through another ref is off the host). */
  commits: number;
  oldest: number | null;
}

/** Every published ref that exists here, with its mark: one git process. */
export async function readTips(repo: Repo, remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>): Promise<RefTips[]> {
  const marks = PUBLISHED.map((p) => pushedRef(remote, p.name));
  const r = await repo.git([
    'for-each-ref',
    '--format=%(refname) %(objectname)',
    ...PUBLISHED.map((p) => p.local),
    ...marks,
  ]);
  const at = new Map<string, string>();
  for (const line of r.stdout.toString().split('\n')) {
    const [ref, oid] = line.split(' ');
    if (ref && oid) at.set(ref, oid);
  }
  const out: RefTips[] = [];
  for (const p of PUBLISHED) {
    const head = at.get(p.local);
    if (head) out.push({ ...p, head, pushed: at.get(pushedRef(remote, p.name)) });
  }
  return out;
}

/** `rev-list --timestamp`: "<committer time> <id>" per commit. */
async function unpushed(
  repo: Repo,
  heads: string[],
  pushed: string[],
): Promise<{ commits: number; oldest: number | null }> {
  if (!heads.length) return { commits: 0, oldest: null };
  const r = await repo.git(['rev-list', '--timestamp', ...heads, ...pushed.map((p) => `^${p}`), '--']);
  let commits = 0;
  let oldest: number | null = null;
  for (const line of r.stdout.toString().split('\n')) {
    if (!line) continue;
    commits++;
    const t = Number(line.slice(0, line.indexOf(' ')));
    if (oldest === null || t < oldest) oldest = t;
  }
  return { commits, oldest };
}

/** The backlog in total only (one git process): what the alert needs. */
export async function totalBacklog(repo: Repo, tips: RefTips[]): Promise<{ commits: number; oldest: number | null }> {
  const waiting = tips.filter((t) => t.head !== t.pushed);
  return unpushed(
    repo,
    waiting.map((t) => t.head),
    tips.map((t) => t.pushed).filter((p): p is string => !!p),
  );
}

/** The backlog per ref and in total: what `status` and `doctor` show. */
export async function readBacklog(repo: Repo, remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>): Promise<Backlog> {
  const tips = await readTips(repo, remote);
  const byName = new Map(tips.map((t) => [t.name, t]));
  const refs: RefBacklog[] = [];
  for (const p of PUBLISHED) {
    const t = byName.get(p.name);
    if (!t) {
      refs.push({ name: p.name, local: p.local, head: null, pushed: null, commits: 0, oldest: null });
      continue;
    }
    const b =
      t.head === t.pushed ? { commits: 0, oldest: null } : await unpushed(repo, [t.head], t.pushed ? [t.pushed] : []);
    refs.push({ name: p.name, local: p.local, head: t.head, pushed: t.pushed ?? null, ...b });
  }
  return { refs, ...(await totalBacklog(repo, tips)) };
}

/** Moves a mark to what the remote now holds, forward only: a slower concurrent pusher (the
 * daemon and `trail push`) must not set it back. A mark lost to a race only overstates the
 * backlog until the next push. */
export async function advanceMark(
  repo: Repo,
  remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>,
  name: string,
  pushed: string,
  current: string | undefined,
): Promise<void> {
  if (current === pushed) return;
  const ref = pushedRef(remote, name);
  if (current) {
    const r = await repo.git(['merge-base', '--is-ancestor', pushed, current], { okCodes: [0, 1, 128] });
    if (r.code === 0) return;
  }
  await repo.git(['update-ref', '-m', `publish: ${remote.gitUrl} holds it`, ref, pushed, current ?? '0'.repeat(40)], {
    okCodes: [0, 1, 128],
  });
}
