// What `trail report` and `trail events` show, gathered once from the shadow repository:
// the commits of the trail in a period, what each changed, who and what made it, what a
// policy did about it, and how far its proof got. Renderers (html.ts, markdown.ts) only
// format this; --json prints it as is, so its field names are part of the interface.
import { diffStates, type Change, type ChangeKind } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import type { State } from '../record/model/state.js';
import { readLog, type LogEntry } from './log-reader.js';
import { readProofs } from '../anchor/shadow-git.js';
import { bitcoinOf, parseProof, pendingOf } from '../anchor/proof-tree.js';
import { display } from '../util/bytes.js';
import { decide } from '../decide/evaluate.js';
import { parsePolicy, type Policy as PolicyRules } from '../decide/policy.js';

export const REPORT_VERSION = 1;

export interface PathChange {
  /** display form: \xNN for bytes that are not printable UTF-8 (like every human output) */
  path: string;
  change: ChangeKind;
  details: string[];
}

export type AnchorState = 'anchored' | 'pending' | 'missing';

export interface Anchoring {
  /** anchored: the proof holds a Bitcoin attestation (checked against the chain only by
   * `trail verify`); pending: calendars promised one; missing: no proof yet (queued). */
  status: AnchorState;
  /** Bitcoin block heights named by the proof */
  blocks: number[];
  /** calendars still waiting for a block */
  calendars: string[];
  /** the proof is there but does not parse */
  unreadable?: boolean;
}

export type PolicyOutcome = 'reverted' | 'alerted' | 'rejected' | 'review';

export interface Policy {
  /** the Trail-Policy trailer as written, or for an alert what the policy in force said */
  raw: string;
  /** alert, protect, review… (its first word) */
  action: string;
  /** the rest: usually the rule's name */
  rule: string;
  outcome: PolicyOutcome;
  /** a change the policy did not allow (reverted by protect, alerted, rejected in review) */
  notAllowed: boolean;
}

export interface ReportChange {
  commit: string;
  /** ISO 8601 with the offset git recorded */
  time: string;
  actor: string;
  email: string;
  /** Trail-Action: init, snapshot, revert, watch, … */
  action: string;
  /** what made it: Trail-Argv or Trail-Exe when attribution knows, else how trail saw it */
  process: string;
  subject: string;
  paths: PathChange[];
  policy?: Policy;
  anchoring: Anchoring;
  trailers: Record<string, string>;
}

export interface Alert {
  commit: string;
  time: string;
  actor: string;
  process: string;
  policy: Policy;
  subject: string;
  paths: PathChange[];
  /** for a revert: the revision the directory was put back to */
  revertedTo?: string;
  /** for a protect restore: the commit it undid, and who made that change */
  undid?: string;
  undidAuthor?: string;
}

export interface ReportData {
  version: number;
  name: string;
  dir: string;
  generatedAt: string;
  period: { since?: string; until?: string };
  headline: {
    /** commits on the trail in the period, the first snapshot (init) excluded */
    changes: number;
    /** distinct actors of those changes, "unknown" and trail itself excluded */
    people: number;
    /** changes no one is known to have made (seen by trail watch without attribution) */
    unattributed: number;
    notAllowed: number;
    /** paths that differ between approved and observed now */
    drift: number;
    /** over every commit of the period, the first snapshot included */
    anchoring: Record<AnchorState, number>;
  };
  /** per UTC day, changes per actor */
  days: { day: string; actors: Record<string, number> }[];
  actors: { name: string; changes: number }[];
  topPaths: { path: string; changes: number }[];
  /** every commit of the period, oldest first (the first snapshot included, action "init") */
  changes: ReportChange[];
  alerts: Alert[];
  drift: PathChange[];
  refs: { observed?: string; approved?: string };
}

export interface ReportOptions {
  since?: string;
  until?: string;
  /** how many top paths (default 10) */
  top?: number;
  now?: Date;
}

const UNKNOWN = 'unknown';

export function isUnknownActor(name: string): boolean {
  return name === '' || name === UNKNOWN;
}

export function pathChanges(changes: Change[]): PathChange[] {
  return changes.map((c) => ({ path: display(c.path), change: c.change, details: c.details }));
}

export function policyOf(trailers: Record<string, string>): Policy | undefined {
  const raw = trailers['Trail-Policy'];
  if (!raw) return undefined;
  // "protect (rule 1, 2)" as act/respond.ts writes it; "alert hosts" from older tools.
  const m = /^\s*([A-Za-z-]+)[:,]?\s*(.*)$/.exec(raw) ?? [raw, raw, ''];
  const action = (m[1] ?? '').toLowerCase();
  const rest = [(m[2] ?? '').replace(/^\((.*)\)$/, '$1')];
  const review = (trailers['Trail-Review'] ?? '').toLowerCase();
  let outcome: PolicyOutcome;
  if (trailers['Trail-Action'] === 'revert' || action === 'protect') outcome = 'reverted';
  else if (action === 'review') outcome = /reject|denied|refused/.test(review) ? 'rejected' : 'review';
  else outcome = 'alerted';
  return { raw, action, rule: rest.join(' '), outcome, notAllowed: outcome !== 'review' };
}

export function processOf(e: Pick<LogEntry, 'trailers'>): string {
  const t = e.trailers;
  if (t['Trail-Argv']) return t['Trail-Argv'];
  if (t['Trail-Exe']) return t['Trail-Exe'];
  const action = t['Trail-Action'] ?? '';
  if (action === 'watch') return 'unknown (seen by trail watch)';
  if (!action) return 'unknown';
  return `trail ${action}`;
}

/** Commits trail makes itself: policies never judge them (see act/respond.ts). */
const OWN_ACTIONS = new Set(['init', 'revert', 'protect', 'policy', 'config', 'watch-start', 'watch-stop', 'accept']);

/**
 * Alerts are sent (syslog, webhook), not written into the trail; the report finds them again
 * by judging each change with the policy that was in force when it was recorded (the
 * history of refs/trail/policy), as the snapshot or the watcher did then.
 */
async function alertsByPolicy(
  repo: Repo,
  items: { entry: LogEntry; changes: Change[] }[],
): Promise<Map<string, Policy>> {
  const out = new Map<string, Policy>();
  const has = await repo.git(['rev-parse', '--verify', '--quiet', 'refs/trail/policy'], { okCodes: [0, 1] });
  if (has.code !== 0) return out;
  const hist = await repo.git(['log', '--format=%H %ct', 'refs/trail/policy']);
  const versions = hist.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, t] = l.split(' ');
      return { id: id!, time: Number(t) };
    });
  const parsed = new Map<string, PolicyRules | null>();
  const policyAt = async (time: number): Promise<PolicyRules | null> => {
    const v = versions.find((x) => x.time <= time);
    if (!v) return null;
    if (!parsed.has(v.id)) {
      const r = await repo.git(['cat-file', 'blob', `${v.id}:policy.yaml`], { okCodes: [0, 128] });
      let p: PolicyRules | null = null;
      try {
        p = r.code === 0 ? parsePolicy(r.stdout.toString('utf8'), 'the stored policy') : null;
      } catch {
        p = null;
      }
      parsed.set(v.id, p);
    }
    return parsed.get(v.id)!;
  };
  for (const { entry, changes } of items) {
    const action = entry.trailers['Trail-Action'] ?? '';
    if (OWN_ACTIONS.has(action) || entry.trailers['Trail-Policy'] || !changes.length) continue;
    const policy = await policyAt(Math.floor(Date.parse(entry.date) / 1000));
    if (!policy) continue;
    const actor = isUnknownActor(entry.author) ? '@unknown' : entry.author;
    const hits = changes
      .map((c) => decide(policy, c, { name: actor }))
      .filter((d) => d.action === 'alert' || d.action === 'review');
    if (!hits.length) continue;
    const kind = hits.some((d) => d.action === 'alert') ? 'alert' : 'review';
    const rules = [...new Set(hits.map((d) => d.rule?.name ?? (d.rule ? `rule ${d.rule.index}` : 'default')))];
    out.set(entry.commit, {
      raw: `${kind} (${rules.join(', ')})`,
      action: kind,
      rule: rules.join(', '),
      outcome: kind === 'alert' ? 'alerted' : 'review',
      notAllowed: kind === 'alert',
    });
  }
  return out;
}

/** Proof state per commit, read from the notes on refs/notes/trail-ots. */
export async function anchoringOf(repo: Repo, commits: string[]): Promise<Map<string, Anchoring>> {
  const out = new Map<string, Anchoring>();
  const proofs = commits.length ? await readProofs(repo.gitDir, commits) : new Map<string, Buffer>();
  for (const c of commits) {
    const bytes = proofs.get(c);
    if (!bytes) {
      out.set(c, { status: 'missing', blocks: [], calendars: [] });
      continue;
    }
    try {
      const t = parseProof(bytes).timestamp;
      const blocks = [...new Set(bitcoinOf(t).map((b) => b.attestation.height!))].sort((a, b) => a - b);
      const calendars = [
        ...new Set(
          pendingOf(t)
            .filter((p) => !p.node.isTimestampComplete())
            .map((p) => p.attestation.uri!),
        ),
      ];
      out.set(c, { status: blocks.length ? 'anchored' : 'pending', blocks, calendars });
    } catch {
      // A note that does not parse proves nothing: `trail verify` reports it as a failure.
      out.set(c, { status: 'missing', blocks: [], calendars: [], unreadable: true });
    }
  }
  return out;
}

/**
 * Each commit with what it changed, oldest first. The parent's state is kept from one
 * commit to the next, so a linear trail of N commits costs N+1 tree reads, not 2N.
 */
export async function commitsWithChanges(
  repo: Repo,
  entries: LogEntry[],
): Promise<{ entry: LogEntry; changes: Change[] }[]> {
  const out: { entry: LogEntry; changes: Change[] }[] = [];
  let cached: { commit: string; state: State } | undefined;
  for (const entry of [...entries].reverse()) {
    const parent = entry.parents[0];
    let before: State = new Map();
    if (parent) before = cached?.commit === parent ? cached.state : await readState(repo, parent);
    const after = await readState(repo, entry.commit);
    out.push({ entry, changes: diffStates(before, after) });
    cached = { commit: entry.commit, state: after };
  }
  return out;
}

export async function gatherReport(repo: Repo, opts: ReportOptions = {}): Promise<ReportData> {
  const now = opts.now ?? new Date();
  const observed = await repo.readRef(Refs.observed);
  const approved = await repo.readRef(Refs.approved);
  const entries = observed ? await readLog(repo, Refs.observed, { since: opts.since, until: opts.until }) : [];
  const withChanges = await commitsWithChanges(repo, entries);
  const anchoring = await anchoringOf(
    repo,
    withChanges.map((c) => c.entry.commit),
  );
  const judged = await alertsByPolicy(repo, withChanges);

  // A change protect put back: the restore commit is the alert (and is counted); the change
  // itself is marked so that its row says what became of it.
  const undone = new Map<string, string>();
  for (const { entry } of withChanges)
    if (entry.trailers['Trail-Undid'] && entry.trailers['Trail-Policy'])
      undone.set(entry.trailers['Trail-Undid'], entry.trailers['Trail-Policy']);
  const changes: ReportChange[] = withChanges.map(({ entry, changes: ch }) => {
    const undoneBy = undone.get(entry.commit);
    const policy =
      policyOf(entry.trailers) ??
      judged.get(entry.commit) ??
      (undoneBy ? { ...policyOf({ 'Trail-Policy': undoneBy })!, notAllowed: false } : undefined);
    return {
      commit: entry.commit,
      time: entry.date,
      actor: entry.author || UNKNOWN,
      email: entry.email,
      action: entry.trailers['Trail-Action'] ?? '',
      process: processOf(entry),
      subject: entry.subject,
      paths: pathChanges(ch),
      ...(policy ? { policy } : {}),
      anchoring: anchoring.get(entry.commit)!,
      trailers: entry.trailers,
    };
  });

  const real = changes.filter((c) => c.action !== 'init');
  const actorCount = new Map<string, number>();
  const pathCount = new Map<string, number>();
  const dayMap = new Map<string, Record<string, number>>();
  for (const c of real) {
    actorCount.set(c.actor, (actorCount.get(c.actor) ?? 0) + 1);
    for (const p of c.paths) pathCount.set(p.path, (pathCount.get(p.path) ?? 0) + 1);
    const day = new Date(c.time).toISOString().slice(0, 10);
    const d = dayMap.get(day) ?? {};
    d[c.actor] = (d[c.actor] ?? 0) + 1;
    dayMap.set(day, d);
  }
  const counts: Record<AnchorState, number> = { anchored: 0, pending: 0, missing: 0 };
  for (const c of changes) counts[c.anchoring.status]++;

  let drift: PathChange[] = [];
  if (observed && approved && observed !== approved) {
    const [a, o] = await Promise.all([readState(repo, approved), readState(repo, observed)]);
    drift = pathChanges(diffStates(a, o));
  }

  const alerts: Alert[] = real
    .filter((c) => c.policy?.notAllowed)
    .map((c) => ({
      commit: c.commit,
      time: c.time,
      actor: c.actor,
      process: c.process,
      policy: c.policy!,
      subject: c.subject,
      paths: c.paths,
      ...(c.trailers['Trail-Reverted-To'] ? { revertedTo: c.trailers['Trail-Reverted-To'] } : {}),
      ...(c.trailers['Trail-Undid'] ? { undid: c.trailers['Trail-Undid'] } : {}),
      ...(c.trailers['Trail-Undid-Author'] ? { undidAuthor: c.trailers['Trail-Undid-Author'] } : {}),
    }));

  return {
    version: REPORT_VERSION,
    name: repo.info.name,
    dir: repo.info.dir,
    generatedAt: now.toISOString(),
    period: { ...(opts.since ? { since: opts.since } : {}), ...(opts.until ? { until: opts.until } : {}) },
    headline: {
      changes: real.length,
      // trail itself (a protect restore) is not a person.
      people: [...actorCount.keys()].filter((a) => !isUnknownActor(a) && a !== 'trail').length,
      unattributed: real.filter((c) => isUnknownActor(c.actor)).length,
      notAllowed: alerts.length,
      drift: drift.length,
      anchoring: counts,
    },
    days: [...dayMap.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, actors]) => ({ day, actors })),
    actors: [...actorCount.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([name, n]) => ({ name, changes: n })),
    topPaths: [...pathCount.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, opts.top ?? 10)
      .map(([path, n]) => ({ path, changes: n })),
    changes,
    alerts,
    drift,
    refs: { ...(observed ? { observed } : {}), ...(approved ? { approved } : {}) },
  };
}
