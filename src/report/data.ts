// What `trail report` and `trail events` show, gathered once from the shadow repository:
// the commits of the trail in a period, what each changed, who and what made it, what a
// policy did about it, and how far its proof got. Renderers (html.ts, markdown.ts) only
// format this; --json prints it as is, so its field names are part of the interface.
import { diffStates, type Change, type ChangeKind } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import type { State } from '../record/model/state.js';
import { readLog, type LogEntry } from '../record/commit/history.js';
import { readProofs } from '../anchor/shadow-git.js';
import { bitcoinOf, parseProof, pendingOf } from '../anchor/proof-tree.js';
import { display } from '../util/bytes.js';
import { decide } from '../decide/evaluate.js';
import { parsePolicy, type Policy } from '../decide/policy.js';
import { parseCheckpointMessage } from '../record/checkpoint/checkpoint-format.js';

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

/** What a policy did about one commit (read from its Trail-Policy trailer, or found again by
 * judging it with the policy then in force). Not the policy itself: that is decide's Policy. */
export interface PolicyVerdict {
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

/** A commit of the trail as one change: when, who, what made it, which paths. A report's row
 * adds what the policy did and the proof; a line of `trail events` adds which trail it is. */
export interface CommitChange {
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
  trailers: Record<string, string>;
}

export interface ReportChange extends CommitChange {
  policy?: PolicyVerdict;
  anchoring: Anchoring;
}

export interface Alert {
  commit: string;
  time: string;
  actor: string;
  process: string;
  policy: PolicyVerdict;
  subject: string;
  paths: PathChange[];
  /** for a revert: the revision the directory was put back to */
  revertedTo?: string;
  /** for a protect restore: the commit it undid, and who made that change */
  undid?: string;
  undidAuthor?: string;
}

/** How bad a sign about the trail itself is: critical (someone may have hidden what they did),
 * high (a span nobody watched, changes nobody can be named for), notice (an author unknown). */
export type TrustSeverity = 'critical' | 'high' | 'notice';

export type TrustKind =
  | 'login-rewritten'
  | 'audit-blinded'
  | 'log-tampered'
  | 'audit-config'
  | 'watch-crashed'
  | 'unwatched'
  | 'audit-interrupted'
  | 'unattributed';

/** One kind of sign that the trail is incomplete or was interfered with, in plain words: what
 * happened, what it means, what to do; then the records behind it, for whoever looks further. */
export interface TrustIssue {
  kind: TrustKind;
  severity: TrustSeverity;
  title: string;
  meaning: string;
  todo: string;
  /** changes on the trail it concerns (observed commits) */
  changes: string[];
  /** other records that say so: checkpoints, log checkpoints */
  records: string[];
  /** first and last time, as the host recorded them */
  from: string;
  to: string;
  /** technical detail as trail recorded it (distinct, each clipped) */
  details: string[];
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
    /** signs about the trail itself (see `trust`), per severity */
    trust: Record<TrustSeverity, number>;
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
  /** what could make the trail incomplete or untrustworthy in the period, gravest first */
  trust: TrustIssue[];
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

function pathChanges(changes: Change[]): PathChange[] {
  return changes.map((c) => ({ path: display(c.path), change: c.change, details: c.details }));
}

export function policyOf(trailers: Record<string, string>): PolicyVerdict | undefined {
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

function processOf(e: Pick<LogEntry, 'trailers'>): string {
  const t = e.trailers;
  if (t['Trail-Argv']) return t['Trail-Argv'];
  if (t['Trail-Exe']) return t['Trail-Exe'];
  const action = t['Trail-Action'] ?? '';
  if (action === 'watch') return 'unknown (seen by trail watch)';
  if (!action) return 'unknown';
  return `trail ${action}`;
}

/** A commit and what it changed, its fields in the order the JSON shows them. */
export function commitChange(entry: LogEntry, changes: Change[]): CommitChange {
  return {
    commit: entry.commit,
    time: entry.date,
    actor: entry.author,
    email: entry.email,
    action: entry.trailers['Trail-Action'] ?? '',
    process: processOf(entry),
    subject: entry.subject,
    paths: pathChanges(changes),
    trailers: entry.trailers,
  };
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
): Promise<Map<string, PolicyVerdict>> {
  const out = new Map<string, PolicyVerdict>();
  const has = await repo.git(['rev-parse', '--verify', '--quiet', Refs.policy], { okCodes: [0, 1] });
  if (has.code !== 0) return out;
  const hist = await repo.git(['log', '--format=%H %ct', Refs.policy]);
  const versions = hist.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, t] = l.split(' ');
      return { id: id!, time: Number(t) };
    });
  const parsed = new Map<string, Policy | null>();
  const policyAt = async (time: number): Promise<Policy | null> => {
    const v = versions.find((x) => x.time <= time);
    if (!v) return null;
    if (!parsed.has(v.id)) {
      const r = await repo.git(['cat-file', 'blob', `${v.id}:policy.yaml`], { okCodes: [0, 128] });
      let p: Policy | null = null;
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

const SEVERITY_ORDER: TrustSeverity[] = ['critical', 'high', 'notice'];
const KIND_ORDER: TrustKind[] = [
  'login-rewritten',
  'audit-blinded',
  'log-tampered',
  'audit-config',
  'watch-crashed',
  'unwatched',
  'audit-interrupted',
  'unattributed',
];

/** The words of each kind: what happened, what it means, what to do. */
const TRUST_WORDS: Record<TrustKind, { severity: TrustSeverity; title: string; meaning: string; todo: string }> = {
  'login-rewritten': {
    severity: 'critical',
    title: 'Someone may have posed as another user',
    meaning:
      "A process with root's rights changed its login identity (login uid). trail credits what it did to no one rather than to the user it claimed to be.",
    todo: 'Find out who had root on the host at that time. The details name the process.',
  },
  'audit-blinded': {
    severity: 'critical',
    title: 'Someone switched off the audit that names people',
    meaning:
      "Kernel audit was turned off, or one of trail's audit rules removed: changes made meanwhile have no known author.",
    todo: 'Ask whoever the details name why. If it was not planned, treat those changes as made by someone hiding.',
  },
  'log-tampered': {
    severity: 'critical',
    title: 'A log was altered after it was written',
    meaning:
      'A tracked log was truncated, rewritten, deleted or replaced in place: entries it held may be gone, and with them the traces of what was done.',
    todo: 'Find out who had root on the host then. trail logs shows what trail kept of the log.',
  },
  'audit-config': {
    severity: 'high',
    title: "The host's audit rules were changed by a person",
    meaning:
      'Audit rules are what name the people behind changes: removing them, or switching audit off, makes later changes anonymous.',
    todo: "If this was not planned maintenance, ask the people named why. trail watch's log has each change (event audit-config).",
  },
  'watch-crashed': {
    severity: 'high',
    title: 'trail watch was killed, crashed or paused',
    meaning: 'Nothing watched the directory for a while. Anything changed and changed back in that time left no trace.',
    todo: 'Find out why it stopped. If nobody knows, treat that time as unaccounted for.',
  },
  unwatched: {
    severity: 'high',
    title: 'Changes made while trail was not watching',
    meaning:
      'trail found these changes when it started again: who made them, and exactly when, is not known. Anything changed and changed back meanwhile left no trace.',
    todo: 'Find out why trail was not running, and review these changes.',
  },
  'audit-interrupted': {
    severity: 'high',
    title: 'Audit was interrupted: changes without a known author',
    meaning: 'auditd stopped, was restarted or lost records, so trail could not name who made these changes.',
    todo: 'Find out why (a full disk, a restart, a kill). If nobody knows, review these changes as suspect.',
  },
  unattributed: {
    severity: 'notice',
    title: 'Changes with no known author',
    meaning:
      'No audit record names who made them: audit is not in use for this directory, or the change came a way audit does not see.',
    todo: 'Review them. trail doctor says whether audit works on this host.',
  },
};

/** Host text shown as detail: one line, bounded, so that it cannot push the rest out of view. */
export function clip(s: string, max = 300): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/** What kind of blind spot an unattributed change is, from its Trail-Actor reason. */
export function unknownKind(action: string, reason: string): TrustKind {
  if (action === 'watch-gap') return 'unwatched';
  if (/login uid rewritten/.test(reason)) return 'login-rewritten';
  if (/turned kernel audit off|removed trail's audit rule/.test(reason)) return 'audit-blinded';
  if (
    /auditd|audit records? (were |was )?lost|records lost|audit rules were missing|kernel audit is disabled|records stopped arriving|no audit record reached|rules are locked/.test(
      reason,
    )
  )
    return 'audit-interrupted';
  return 'unattributed';
}

/** Signs about the trail itself in the period: from its changes (who could not be named, and
 * why), its checkpoints (an unclean stop, audit changed, login uids rewritten, auditd
 * restarted) and its log checkpoints (a log altered). Gravest first. */
async function trustIssues(repo: Repo, changes: ReportChange[], opts: ReportOptions): Promise<TrustIssue[]> {
  const byKind = new Map<TrustKind, TrustIssue>();
  const add = (kind: TrustKind, time: string, o: { change?: string; record?: string; detail?: string }) => {
    let it = byKind.get(kind);
    if (!it) {
      it = { kind, ...TRUST_WORDS[kind], changes: [], records: [], from: time, to: time, details: [] };
      byKind.set(kind, it);
    }
    if (o.change && !it.changes.includes(o.change)) it.changes.push(o.change);
    if (o.record && !it.records.includes(o.record)) it.records.push(o.record);
    if (time && (!it.from || Date.parse(time) < Date.parse(it.from))) it.from = time;
    if (time && (!it.to || Date.parse(time) > Date.parse(it.to))) it.to = time;
    const d = o.detail ? clip(o.detail) : '';
    if (d && !it.details.includes(d) && it.details.length < 10) it.details.push(d);
  };
  for (const c of changes) {
    if (c.action === 'init' || !isUnknownActor(c.actor)) continue;
    const reason = (c.trailers['Trail-Actor'] ?? '').replace(/^unknown \((.*)\)$/s, '$1');
    const since = c.trailers['Trail-Unwatched-Since'];
    const until = c.trailers['Trail-Unwatched-Until'];
    const detail =
      c.action === 'watch-gap' ? `not watched ${since ? `from ${since} ` : ''}to ${until ?? c.time}` : reason;
    add(unknownKind(c.action, reason), c.time, { change: c.commit, detail });
  }
  for (const e of await readLog(repo, Refs.logs, { since: opts.since, until: opts.until })) {
    const alert = e.trailers['Trail-Alert'];
    if (alert) add('log-tampered', e.date, { record: e.commit, detail: alert });
  }
  for (const e of await readLog(repo, Refs.checkpoints, { since: opts.since, until: opts.until })) {
    let r;
    try {
      r = parseCheckpointMessage(`${e.subject}\n\n${e.body}`);
    } catch {
      continue;
    }
    if (r.reason === 'start-after-crash' && r.window)
      add('watch-crashed', e.date, {
        record: e.commit,
        detail: `not watched from ${r.window.from} to ${r.window.to}${r.window.bootChanged ? ', the host rebooted in between' : ''}${r.window.auditLostDelta ? `, ${r.window.auditLostDelta} audit record(s) lost` : ''} (checkpoint ${r.seq})`,
      });
    const a = r.audit;
    if (a.configChanges)
      add('audit-config', e.date, {
        record: e.commit,
        detail: `${a.configChanges} change(s) by ${a.configChangedBy?.join(', ') || 'unknown logins'} (checkpoint ${r.seq})`,
      });
    if (a.loginRewrites)
      add('login-rewritten', e.date, {
        record: e.commit,
        detail: `${a.loginRewrites} login uid(s) rewritten (checkpoint ${r.seq}; event audit-login in trail watch's log)`,
      });
    if (a.auditdRestarts)
      add('audit-interrupted', e.date, {
        record: e.commit,
        detail: `auditd started again ${a.auditdRestarts} time(s), records in between dropped uncounted (checkpoint ${r.seq})`,
      });
  }
  return [...byKind.values()].sort(
    (a, b) =>
      SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind),
  );
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
    const { trailers, ...row } = commitChange(entry, ch);
    return {
      ...row,
      actor: entry.author || UNKNOWN,
      ...(policy ? { policy } : {}),
      anchoring: anchoring.get(entry.commit)!,
      trailers,
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

  const trust = await trustIssues(repo, changes, opts);
  const trustCounts: Record<TrustSeverity, number> = { critical: 0, high: 0, notice: 0 };
  for (const t of trust) trustCounts[t.severity]++;

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
      trust: trustCounts,
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
    trust,
    drift,
    refs: { ...(observed ? { observed } : {}), ...(approved ? { approved } : {}) },
  };
}
