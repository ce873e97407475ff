import { listWatched } from '../../host/registry.js';
import { Repo } from '../../record/repo/repo.js';
import { Exit, TrailError } from '../../util/errors.js';
import { GitHub } from '../review/github.js';
import { readRemote, readToken, type ReviewRemote } from '../review/remote.js';

/**
 * The GitHub side of an append-only remote. What this host publishes must outlive a root who
 * turns against it, and that root holds the host's own token: only GitHub can refuse that
 * token a deletion or a force-push. A repository ruleset does (rules `deletion` and
 * `non_fast_forward`, no bypass), created once by someone with the repository's Administration
 * permission — a credential the host must never hold, since it could switch the ruleset off.
 * The host then checks with its own token that the rules really apply to each of its branches
 * (GET …/rules/branches/{branch}): an active ruleset whose patterns miss them protects nothing.
 */

export const RULESET_NAME = 'trail-append-only';
export const RULESET_INCLUDE = 'refs/heads/trail/**/*';

export const APPEND_ONLY_RULESET = {
  name: RULESET_NAME,
  target: 'branch',
  enforcement: 'active',
  bypass_actors: [],
  conditions: { ref_name: { include: [RULESET_INCLUDE], exclude: [] } },
  rules: [{ type: 'deletion' }, { type: 'non_fast_forward' }],
} as const;

/** Every branch this host publishes (trail/<host>/<name>/…): what must be append-only. */
export const PUBLISHED = ['observed', 'approved', 'logs', 'access', 'checkpoints', 'proofs'] as const;

export function publishedBranches(r: Pick<ReviewRemote, 'prefix'>): string[] {
  return PUBLISHED.map((k) => `${r.prefix}/${k}`);
}

export interface BranchProtection {
  branch: string;
  deletion: boolean;
  nonFastForward: boolean;
  /** The rulesets whose rules apply to the branch. */
  rulesets: number[];
}

export interface ProtectionReport {
  repository: string;
  /** protected: every published branch refuses deletion and force-push; unprotected: some do
   * not; unavailable: GitHub offers no rulesets on this repository; unknown: could not ask. */
  state: 'protected' | 'unprotected' | 'unavailable' | 'unknown';
  branches: BranchProtection[];
  message: string;
}

export interface ProtectResult {
  repository: string;
  created: boolean;
  ruleset: { id: number; name: string; url?: string };
  protection: ProtectionReport;
}

// GitHub's answer for rulesets on a private repository whose owner has no paid plan.
const NEEDS_PLAN = /upgrade to github|make this repository public/i;

const planMessage = (full: string) =>
  `GitHub offers no rulesets on ${full}: it is private and its owner has no paid plan (GitHub answered 403). ` +
  `This host's branches cannot be made append-only there: make the repository public or move it to a paid plan (Pro, Team, Enterprise)`;

class PlanMissing extends TrailError {}

function planForbidden(full: string) {
  return (detail: string) => (NEEDS_PLAN.test(detail) ? new PlanMissing(planMessage(full), Exit.error) : undefined);
}

/**
 * Whether each published branch of this host refuses deletion and force-push, as GitHub
 * reports the rules in force for it. Never throws: a question GitHub could not answer is a
 * report that says so.
 */
export async function checkProtection(remote: ReviewRemote, token: string): Promise<ProtectionReport> {
  const full = `${remote.owner}/${remote.repo}`;
  const gh = new GitHub(remote, token);
  const branches: BranchProtection[] = [];
  try {
    for (const branch of publishedBranches(remote)) {
      const rules = await gh.call(
        `read the rules of ${branch}`,
        async (o) => ({
          data: await o.paginate(o.rest.repos.getBranchRules, {
            owner: remote.owner,
            repo: remote.repo,
            branch,
            per_page: 100,
          }),
        }),
        { forbidden: planForbidden(full) },
      );
      const types = new Set(rules.map((r) => r.type));
      branches.push({
        branch,
        deletion: types.has('deletion'),
        nonFastForward: types.has('non_fast_forward'),
        rulesets: [
          ...new Set(rules.map((r) => (r as { ruleset_id?: number }).ruleset_id).filter((x): x is number => !!x)),
        ],
      });
    }
  } catch (err) {
    if (err instanceof PlanMissing) return { repository: full, state: 'unavailable', branches, message: err.message };
    const why = err instanceof TrailError ? err.message : (err as Error).message;
    return {
      repository: full,
      state: 'unknown',
      branches,
      message: `cannot tell whether ${full} is protected: ${why}`,
    };
  }
  const open = branches.filter((b) => !b.deletion || !b.nonFastForward);
  if (!open.length)
    return {
      repository: full,
      state: 'protected',
      branches,
      message: `GitHub refuses deletion and force-push of this host's ${branches.length} branches on ${full}`,
    };
  const what = (b: BranchProtection) =>
    `${b.branch} (${[!b.deletion && 'deletion', !b.nonFastForward && 'force-push'].filter(Boolean).join(' and ')} allowed)`;
  return {
    repository: full,
    state: 'unprotected',
    branches,
    message:
      `NOT append-only: on ${full}, this host's own token can rewrite or delete ${open.map(what).join(', ')}; ` +
      `whoever controls this host can erase what it published. Ask a repository admin to run: trail remote protect --admin-token-file FILE`,
  };
}

/** The check as this host can make it: with its own token (GITHUB_TOKEN or review.tokenFile). */
export async function hostProtection(remote: ReviewRemote): Promise<ProtectionReport> {
  let token: string;
  try {
    token = await readToken(remote);
  } catch (err) {
    return {
      repository: `${remote.owner}/${remote.repo}`,
      state: 'unknown',
      branches: [],
      message: `cannot ask GitHub whether this host's branches are protected: ${(err as Error).message}`,
    };
  }
  return checkProtection(remote, token);
}

/** The same for every watched directory of this host that has a GitHub remote (doctor). */
export async function watchedProtection(): Promise<({ trail: string } & ProtectionReport)[]> {
  const out: ({ trail: string } & ProtectionReport)[] = [];
  for (const w of await listWatched()) {
    let remote: ReviewRemote | undefined;
    try {
      remote = await readRemote(await Repo.open(w.repo));
    } catch (err) {
      out.push({ trail: w.name, repository: '', state: 'unknown', branches: [], message: (err as Error).message });
      continue;
    }
    if (remote) out.push({ trail: w.name, ...(await hostProtection(remote)) });
  }
  return out;
}

interface RulesetDetail {
  id: number;
  name: string;
  target?: string;
  enforcement: string;
  bypass_actors?: unknown[];
  conditions?: { ref_name?: { include?: string[]; exclude?: string[] } } | null;
  rules?: { type: string }[];
  _links?: { html?: { href?: string } | null };
}

/** Why a ruleset does not do what trail's does, or undefined when it does. Bypass actors
 * count: whoever they name could still rewrite the trail. */
export function differsFromAppendOnly(rs: RulesetDetail): string | undefined {
  const types = new Set((rs.rules ?? []).map((r) => r.type));
  const include = rs.conditions?.ref_name?.include ?? [];
  const exclude = rs.conditions?.ref_name?.exclude ?? [];
  if (rs.enforcement !== 'active') return `its enforcement is ${rs.enforcement}, not active`;
  if ((rs.target ?? 'branch') !== 'branch') return `it targets ${rs.target}, not branches`;
  if (!types.has('deletion') || !types.has('non_fast_forward'))
    return `it lacks the rule${types.has('deletion') || types.has('non_fast_forward') ? '' : 's'} ${[
      !types.has('deletion') && 'deletion',
      !types.has('non_fast_forward') && 'non_fast_forward',
    ]
      .filter(Boolean)
      .join(' and ')}`;
  if (!include.includes(RULESET_INCLUDE) && !include.includes('~ALL')) return `it does not include ${RULESET_INCLUDE}`;
  if (exclude.length) return `it excludes ${exclude.join(', ')}`;
  if (rs.bypass_actors?.length) return `it lets ${rs.bypass_actors.length} actor(s) bypass it`;
  return undefined;
}

/**
 * Creates trail's ruleset with a token that has the repository's Administration permission,
 * unless an equivalent active one exists; then checks with that token that GitHub applies it
 * to this host's branches. The token is only used here, never written anywhere.
 */
export async function protectRemote(remote: ReviewRemote, adminToken: string): Promise<ProtectResult> {
  const full = `${remote.owner}/${remote.repo}`;
  const gh = new GitHub(remote, adminToken);
  const admin = (detail: string) =>
    planForbidden(full)(detail) ??
    new TrailError(
      `the admin token may not manage rulesets on ${full} (GitHub answered 403: ${detail})`,
      Exit.error,
      "use a token of a repository admin with the repository permission Administration: read and write (a fine-grained token is enough); the host's own token must not have it",
    );
  const summaries = await gh.call(
    'list the repository rulesets',
    async (o) => ({
      data: await o.paginate(o.rest.repos.getRepoRulesets, { owner: remote.owner, repo: remote.repo, per_page: 100 }),
    }),
    { forbidden: admin },
  );
  let ours: RulesetDetail | undefined;
  let equivalent: RulesetDetail | undefined;
  for (const s of summaries) {
    const rs = (await gh.call(
      `read ruleset ${s.id}`,
      (o) => o.rest.repos.getRepoRuleset({ owner: remote.owner, repo: remote.repo, ruleset_id: s.id }),
      { forbidden: admin },
    )) as RulesetDetail;
    if (rs.name === RULESET_NAME) ours = rs;
    if (!equivalent && !differsFromAppendOnly(rs)) equivalent = rs;
  }
  if (!equivalent && ours)
    throw new TrailError(
      `a ruleset named ${RULESET_NAME} exists on ${full} (id ${ours.id}) but ${differsFromAppendOnly(ours)}: it does not make this host's branches append-only`,
      Exit.error,
      `fix it in the repository settings (Rules → Rulesets) or delete it, then run trail remote protect again`,
    );
  let created = false;
  let ruleset = equivalent;
  if (!ruleset) {
    ruleset = (await gh.call(
      `create the ruleset ${RULESET_NAME}`,
      (o) =>
        o.rest.repos.createRepoRuleset({
          owner: remote.owner,
          repo: remote.repo,
          ...APPEND_ONLY_RULESET,
          bypass_actors: [],
          conditions: { ref_name: { include: [RULESET_INCLUDE], exclude: [] } },
          rules: [{ type: 'deletion' }, { type: 'non_fast_forward' }],
        }),
      { forbidden: admin },
    )) as RulesetDetail;
    created = true;
  }
  const protection = await checkProtection(remote, adminToken);
  if (protection.state !== 'protected')
    throw new TrailError(
      `ruleset ${ruleset.name} (id ${ruleset.id}) is in place on ${full}, but ${protection.message}`,
      Exit.error,
    );
  return {
    repository: full,
    created,
    ruleset: { id: ruleset.id, name: ruleset.name, url: ruleset._links?.html?.href },
    protection,
  };
}

/** The admin token when it comes on stdin (`gh auth token | trail remote protect`): read once,
 * kept in memory only. A terminal is refused rather than echoing a secret as it is typed. */
export async function readTokenFromStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new TrailError(
      'give the admin token with --admin-token-file FILE or on stdin (it is never stored)',
      Exit.usage,
      'gh auth token | sudo trail remote protect',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const token = Buffer.concat(chunks).toString('utf8').trim();
  if (!token)
    throw new TrailError(
      'no admin token: give one with --admin-token-file FILE or on stdin (it is never stored)',
      Exit.usage,
    );
  if (/\s/.test(token)) throw new TrailError('the admin token on stdin is not a single token', Exit.usage);
  return token;
}
