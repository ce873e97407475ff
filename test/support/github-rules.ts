/**
 * How GitHub decides which repository rules apply to a ref: shared by the GitHub stand-in
 * (GET …/rules/branches/{branch}) and its server-side hook (refusing a push), so that what the
 * API says and what a push meets can never differ.
 */

export type Role = 'read' | 'triage' | 'write' | 'maintain' | 'admin';

export const ROLE_RANK: Record<Role, number> = { read: 1, triage: 2, write: 3, maintain: 4, admin: 5 };

/** GitHub's ids for the built-in repository roles as bypass actors. Not in its REST description;
 * observed and relied on by its Terraform provider: maintain 2, write 4, admin 5. */
export const ROLE_ACTOR_ID: Record<number, Role> = { 2: 'maintain', 4: 'write', 5: 'admin' };

export interface BypassActor {
  actor_id?: number | null;
  actor_type: 'Integration' | 'OrganizationAdmin' | 'RepositoryRole' | 'Team' | 'DeployKey' | 'User';
  bypass_mode?: 'always' | 'pull_request' | 'exempt';
}

export interface RuleSpec {
  type: string;
  parameters?: Record<string, unknown>;
}

export interface Ruleset {
  id: number;
  name: string;
  target: 'branch' | 'tag' | 'push';
  enforcement: 'disabled' | 'active' | 'evaluate';
  bypass_actors: BypassActor[];
  conditions: { ref_name?: { include?: string[]; exclude?: string[] } } | null;
  rules: RuleSpec[];
  created_at: string;
  updated_at: string;
}

/** What the server hands its hook for one push: the active rulesets, each already resolved
 * against the pusher (bypass or not), so the hook needs no user database. */
export interface HookRules {
  defaultBranch: string;
  /** Where GitHub's "Review all repository rules at" points. */
  rulesUrl: string;
  rulesets: {
    id: number;
    target: Ruleset['target'];
    include: string[];
    exclude: string[];
    rules: string[];
    bypass: boolean;
  }[];
}

/**
 * Ruby's `File.fnmatch(pattern, name, File::FNM_PATHNAME)`, which GitHub's documentation names
 * for ruleset patterns: `*` and `?` stop at `/`, `**` followed by `/` (as a whole segment)
 * spans zero or more directories, any other `**` is a `*`, `[...]` a class (`!` or `^`
 * negates), `\` escapes. Without FNM_DOTMATCH a segment starting with `.` is matched by a
 * literal `.` only. No braces (GitHub does not enable FNM_EXTGLOB).
 */
export function fnmatch(pattern: string, name: string): boolean {
  return matchAt(pattern, 0, name, 0);
}

function segmentStart(s: string, i: number): boolean {
  return i === 0 || s[i - 1] === '/';
}

function matchAt(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    if (p.startsWith('**/', pi) && segmentStart(p, pi)) {
      // Zero directories, or one more (never a hidden one) and try again.
      if (matchAt(p, pi + 3, s, si)) return true;
      if (s[si] === '.') return false;
      const slash = s.indexOf('/', si);
      if (slash < 0) return false;
      si = slash + 1;
      continue;
    }
    const c = p[pi]!;
    if (c === '*') {
      let q = pi;
      while (p[q] === '*') q++;
      if (s[si] === '.' && segmentStart(s, si)) return false;
      for (let k = si; ; k++) {
        if (matchAt(p, q, s, k)) return true;
        if (k >= s.length || s[k] === '/') return false;
      }
    }
    if (si >= s.length) return false;
    const ch = s[si]!;
    if (c === '?') {
      if (ch === '/' || (ch === '.' && segmentStart(s, si))) return false;
      pi++;
      si++;
      continue;
    }
    if (c === '[') {
      const end = p.indexOf(']', pi + 2);
      if (end > 0) {
        if (ch === '/' || (ch === '.' && segmentStart(s, si))) return false;
        let body = p.slice(pi + 1, end);
        const negated = body[0] === '!' || body[0] === '^';
        if (negated) body = body.slice(1);
        let hit = false;
        for (let i = 0; i < body.length; i++) {
          if (body[i + 1] === '-' && i + 2 < body.length) {
            if (ch >= body[i]! && ch <= body[i + 2]!) hit = true;
            i += 2;
          } else if (body[i] === ch) hit = true;
        }
        if (hit === negated) return false;
        pi = end + 1;
        si++;
        continue;
      }
    }
    const lit = c === '\\' && pi + 1 < p.length ? p[++pi]! : c;
    if (lit !== ch) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

/** Whether a ruleset's ref-name condition selects `ref` (a full ref name). */
export function refSelected(
  rs: { target: Ruleset['target']; include: string[]; exclude: string[] },
  ref: string,
  defaultBranch: string,
): boolean {
  const kind = rs.target === 'tag' ? 'refs/tags/' : 'refs/heads/';
  if (!ref.startsWith(kind) || rs.target === 'push') return false;
  const one = (pattern: string) =>
    pattern === '~ALL'
      ? true
      : pattern === '~DEFAULT_BRANCH'
        ? ref === `refs/heads/${defaultBranch}`
        : fnmatch(pattern, ref);
  return rs.include.some(one) && !rs.exclude.some(one);
}

/** Whether an actor with `role` (and user id) bypasses a ruleset, for a push (`pull_request`
 * bypass only applies to merges of pull requests). A role bypasses for that role and above. */
export function bypassMode(
  actors: BypassActor[],
  who: { role: Role; userId: number },
): 'always' | 'pull_request' | 'exempt' | undefined {
  for (const a of actors) {
    const mode = a.bypass_mode ?? 'always';
    if (a.actor_type === 'User' && a.actor_id === who.userId) return mode;
    if (a.actor_type === 'RepositoryRole' && a.actor_id != null) {
      const role = ROLE_ACTOR_ID[a.actor_id];
      if (role && ROLE_RANK[who.role] >= ROLE_RANK[role]) return mode;
    }
  }
  return undefined;
}

export const ZERO_OID = /^0+$/;
