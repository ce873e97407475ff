// Check 6: protection. Each published branch should be covered by an active ruleset that
// refuses deletion and non-fast-forward pushes to everyone (`trail remote protect`). GitHub's
// reliable answer is GET /repos/{owner}/{repo}/rules/branches/{branch}: the rules that
// actually apply to that branch. Unprotected is a warning, not a finding: nothing wrong has
// happened yet, but the host's own token could rewrite its trail. Asked once a day per
// branch (the API's rate limit is per hour and a fleet has thousands of branches).
import { APPEND_ONLY } from '../act/publish/ruleset-guard.js';
import type { Where } from './ancestry-checker.js';
import type { Kind } from './checkpoint-record.js';
import type { NewFinding } from './findings.js';
import { GitHubClient, GitHubError } from './github-client.js';
import type { Watch } from './state.js';

export const PROTECTION_EVERY_MS = 24 * 3600 * 1000;

interface Rule {
  type: string;
}

export type ProtectionAnswer = { protected: boolean; rules: string[] } | { unknown: string };

export async function branchRules(gh: GitHubClient, repository: string, branch: string): Promise<ProtectionAnswer> {
  try {
    const { data } = await gh.request<Rule[]>(
      'GET',
      `/repos/${repository}/rules/branches/${branch.split('/').map(encodeURIComponent).join('/')}?per_page=100`,
    );
    const rules = [...new Set(data.map((r) => r.type))].sort();
    return { protected: rules.includes('deletion') && rules.includes('non_fast_forward'), rules };
  } catch (err) {
    if (err instanceof GitHubError && (err.status === 403 || err.status === 404))
      return {
        unknown:
          err.status === 403
            ? 'GitHub refused to list the rules (rulesets on a private repository need a paid plan, or the token lacks read access)'
            : `GitHub does not answer rules/branches (${err.message})`,
      };
    throw err;
  }
}

/** Asks for the branches not asked within a day; updates watch.protection. */
export async function refreshProtection(
  gh: GitHubClient,
  w: Where,
  watch: Watch,
  kinds: Kind[],
  now: number,
  force = false,
): Promise<string | undefined> {
  const last = watch.protection ? Date.parse(watch.protection.checkedAt) : 0;
  const known = new Set(Object.keys(watch.protection?.branches ?? {}));
  if (!force && now - last < PROTECTION_EVERY_MS && kinds.every((k) => known.has(k))) return undefined;
  const branches: NonNullable<Watch['protection']>['branches'] = {};
  for (const k of kinds) {
    const a = await branchRules(gh, w.repository, `trail/${w.host}/${w.name}/${k}`);
    if ('unknown' in a) return a.unknown;
    branches[k] = a;
  }
  watch.protection = { checkedAt: new Date(now).toISOString(), branches };
  return undefined;
}

/** The branches that must be append-only: what `trail remote protect` covers. `approved` is
 * not among them (GitHub's merge button moves it): asking for it kept every host amber. */
const MUST_GROW: ReadonlySet<string> = new Set(APPEND_ONLY);

export function protectionFinding(w: Where, watch: Watch): NewFinding | undefined {
  const b = watch.protection?.branches ?? {};
  const open = (Object.keys(b) as Kind[]).filter((k) => MUST_GROW.has(k) && !b[k]!.protected).sort();
  if (!open.length) return undefined;
  return {
    ...warning(w),
    // Which branches are exposed is part of the key: one more exposed later is a new warning.
    key: `unprotected|${w.repository}|${w.host}/${w.name}|${open.join(',')}`,
    times: { checkedAt: watch.protection!.checkedAt },
    title: `${w.host}/${w.name}: ${open.join(', ')} can be force-pushed or deleted`,
    message:
      `No active ruleset forbids deletion and force-push on ${open.map((k) => `trail/${w.host}/${w.name}/${k}`).join(', ')} ` +
      `(rules that apply: ${open.map((k) => `${k}: ${b[k]!.rules.join(', ') || 'none'}`).join('; ')}). ` +
      `Anyone holding the host's token could rewrite this trail; the witness would still see it, but GitHub would not refuse it. Run \`trail remote protect\` once with an admin token.`,
  };
}

/** GitHub would not say which rules apply (403, 404): not "protected", and not silence either.
 * A warning of its own; what was known before stands beside it. */
export function protectionUnknown(w: Where, why: string): NewFinding {
  return {
    ...warning(w),
    key: `protection-unknown|${w.repository}|${w.host}/${w.name}`,
    times: {},
    title: `${w.host}/${w.name}: whether its branches are protected is unknown`,
    message: `${why}. The witness cannot tell whether the host's token could rewrite this trail; it still sees a rewrite, but GitHub may not refuse one.`,
  };
}

/** What both protection warnings are: about all of a host's branches, a condition. */
function warning(w: Where) {
  return {
    kind: 'unprotected' as const,
    severity: 'warning' as const,
    event: false,
    ...w,
    ref: `refs/heads/trail/${w.host}/${w.name}/`,
    commits: [] as string[],
  };
}
