// What the witness found, in words for people: each finding names the repository, host,
// watched name, ref, commits and times, and says plainly what it means. A finding has a
// stable id made from what it is about, so that a later run recognises it (no duplicate
// issue, no duplicate alarm).
//
// Two lifetimes:
// - a condition (a host silent now, a proof missing now, a branch unprotected) clears by
//   itself when the condition is gone;
// - an event (a rewrite, a gap in the past, a bad signature) happened and stays open until a
//   person acknowledges it (`trail witness ack ID`), or closes its GitHub issue.
import { createHash } from 'node:crypto';

export type Severity = 'finding' | 'warning' | 'notice';

export type FindingKind =
  | 'rewrite'
  | 'branch-deleted'
  | 'checkpoint-signature'
  | 'checkpoint-record'
  | 'checkpoint-seq'
  | 'checkpoint-seq-gap'
  | 'checkpoint-heads'
  | 'commit-signature'
  | 'key-first-sight'
  | 'silence-gap'
  | 'silent'
  | 'no-checkpoints'
  | 'unwatched-window'
  | 'audit-lost'
  | 'audit-config'
  | 'login-rewritten'
  | 'proof-missing'
  | 'proof-deleted'
  | 'proof-invalid'
  | 'unprotected'
  | 'policy-violation'
  | 'source-unreachable'
  | 'activity-gap';

export interface Finding {
  id: string;
  kind: FindingKind;
  severity: Severity;
  /** events stay open until acknowledged; conditions clear when they are gone */
  event: boolean;
  repository: string;
  host?: string;
  name?: string;
  ref?: string;
  commits: string[];
  /** named times, ISO 8601 UTC, each saying where it comes from in its name */
  times: Record<string, string>;
  title: string;
  message: string;
  firstSeen: string;
  lastSeen: string;
  status: 'open' | 'cleared' | 'acknowledged';
  clearedAt?: string;
  acknowledged?: { at: string; note?: string };
  /** the GitHub issue that tracks it (with --open-issues) */
  issue?: number;
}

export type NewFinding = Omit<Finding, 'id' | 'firstSeen' | 'lastSeen' | 'status'> & { key: string };

export function findingId(key: string): string {
  return 'W-' + createHash('sha256').update(key).digest('hex').slice(0, 10);
}

export function iso(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '' : new Date(ms).toISOString();
}

export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

export interface Merged {
  all: Record<string, Finding>;
  /** found for the first time in this run */
  fresh: Finding[];
  /** conditions that were open and are gone now */
  cleared: Finding[];
}

/** This run's findings against the stored ones. `seen` = the sources this run could look
 * at: a condition of a source that could not be fetched is neither confirmed nor cleared. */
export function mergeFindings(
  stored: Record<string, Finding>,
  found: NewFinding[],
  now: string,
  looked: Set<string>,
): Merged {
  const all: Record<string, Finding> = { ...stored };
  const fresh: Finding[] = [];
  const cleared: Finding[] = [];
  const present = new Set<string>();
  for (const f of found) {
    const id = findingId(f.key);
    present.add(id);
    const { key: _key, ...rest } = f;
    const old = all[id];
    if (old && old.status !== 'cleared') {
      all[id] = { ...old, ...rest, id, firstSeen: old.firstSeen, lastSeen: now, status: old.status };
      if (old.acknowledged) all[id]!.acknowledged = old.acknowledged;
      if (old.issue !== undefined) all[id]!.issue = old.issue;
      continue;
    }
    const nf: Finding = { ...rest, id, firstSeen: now, lastSeen: now, status: 'open' };
    if (old?.issue !== undefined) nf.issue = old.issue;
    all[id] = nf;
    fresh.push(nf);
  }
  for (const f of Object.values(all)) {
    if (present.has(f.id) || f.status !== 'open' || f.event) continue;
    if (!looked.has(f.repository)) continue;
    f.status = 'cleared';
    f.clearedAt = now;
    cleared.push(f);
  }
  return { all, fresh, cleared };
}

/** Open findings that count for the exit code and the verdicts. */
export function openFindings(all: Record<string, Finding>): Finding[] {
  return Object.values(all)
    .filter((f) => f.status === 'open')
    .sort((a, b) => (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : a.id < b.id ? -1 : 1));
}
