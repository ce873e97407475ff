// Check 5: proofs. Every commit a host publishes (observed, approved, logs, access,
// checkpoints) must have, within --proof-grace of reaching GitHub, a proof file on the host's
// proofs branch (XX/YYYY….ots, README "Formats") that commits to exactly that commit; a proof
// upgraded to Bitcoin must agree with the block's merkle root as the trusted esplora explorer
// reports it (src/anchor's own checks: digest = commit id, attestation = merkle root). A
// proof file never leaves the branch: one that disappears is a finding.
// Commits whose proof is missing (within grace) or still pending are remembered per host,
// so each run looks only at those and at what changed.
import { EsploraClient } from '../anchor/esplora-client.js';
import { checkAgainstBlocks } from '../anchor/proof-check.js';
import { parseProof, pendingOf } from '../anchor/proof-tree.js';
import { digestMismatch } from '../anchor/what-is-stamped.js';
import type { Where } from './ancestry-checker.js';
import type { Kind } from './checkpoint-record.js';
import { duration, iso, type NewFinding } from './findings.js';
import { existing, mgit, readObjects } from './git-reader.js';
import type { Watch } from './state.js';

export function proofPath(id: string): string {
  return `${id.slice(0, 2)}/${id.slice(2)}.ots`;
}

export function idOfProofPath(path: string): string | undefined {
  const m = /^([0-9a-f]{2})\/([0-9a-f]{38}|[0-9a-f]{62})\.ots$/.exec(path);
  return m ? m[1]! + m[2]! : undefined;
}

export type ProofVerdict =
  | { state: 'anchored'; blocks: number[]; anchoredAt: number }
  | { state: 'pending'; detail: string; unchecked: boolean }
  | { state: 'invalid'; reason: string };

export async function judgeProof(bytes: Buffer, commit: string, explorer: EsploraClient): Promise<ProofVerdict> {
  let d;
  try {
    d = parseProof(bytes);
  } catch (err) {
    return { state: 'invalid', reason: `the proof does not parse: ${(err as Error).message}` };
  }
  const mismatch = digestMismatch(d, commit);
  if (mismatch) return { state: 'invalid', reason: mismatch };
  const btc = await checkAgainstBlocks(d.timestamp, explorer);
  if (btc.failures.length) return { state: 'invalid', reason: btc.failures.map((f) => f.message).join('; ') };
  if (btc.anchoredAt !== undefined)
    return {
      state: 'anchored',
      blocks: btc.checks.filter((c) => c.outcome === 'matches').map((c) => c.height),
      anchoredAt: btc.anchoredAt,
    };
  if (btc.checks.length)
    return {
      state: 'pending',
      unchecked: true,
      detail: `Bitcoin attestation not checked: ${btc.checks.map((c) => c.detail).join('; ')}`,
    };
  const cals = [...new Set(pendingOf(d.timestamp).map((p) => p.attestation.uri!))];
  return {
    state: 'pending',
    unchecked: false,
    detail: `waiting for a Bitcoin block (${cals.join(', ') || 'no calendar'})`,
  };
}

export interface ProofItem {
  w: Where;
  watch: Watch;
  proofsRef: string;
  proofsOld?: string;
  proofsNow?: string;
  /** commits published since the last look, with when they reached GitHub */
  added: { id: string; kind: Kind; arrival: number }[];
  grace: number;
  explorer: EsploraClient;
}

export interface ProofSummary {
  findings: NewFinding[];
  pending: number;
  missing: number;
}

/** All hosts at once: one diff-tree, one batch-check and one cat-file for the fleet. */
export async function checkProofs(gitDir: string, items: ProofItem[], now: number): Promise<ProofSummary> {
  const findings: NewFinding[] = [];
  // Deleted proof files: the proofs tree at the last look against the one now.
  const pairs = items.filter((i) => i.proofsOld && i.proofsNow && i.proofsOld !== i.proofsNow);
  if (pairs.length) {
    const byNew = new Map(pairs.map((i) => [i.proofsNow!, i]));
    const r = await mgit(gitDir, ['diff-tree', '--stdin', '-r', '--no-renames', '--diff-filter=D'], {
      input: pairs.map((i) => `${i.proofsNow} ${i.proofsOld}\n`).join(''),
    });
    let cur: ProofItem | undefined;
    for (const line of r.stdout.toString('utf8').split('\n')) {
      if (/^[0-9a-f]{40,64}$/.test(line)) cur = byNew.get(line);
      else if (cur && line.startsWith(':')) {
        const path = line.split('\t')[1] ?? '';
        const id = idOfProofPath(path);
        findings.push({
          key: `proofdel|${cur.w.repository}|${cur.proofsRef}|${path}`,
          kind: 'proof-deleted',
          severity: 'finding',
          event: true,
          ...cur.w,
          ref: cur.proofsRef,
          commits: [...(id ? [id] : []), cur.proofsOld!, cur.proofsNow!],
          times: { witnessSaw: iso(now) },
          title: `the proof of ${id ? id.slice(0, 12) : path} was removed from ${cur.w.host}/${cur.w.name}'s proofs branch`,
          message:
            `The proofs branch ${cur.proofsRef} had ${path} at ${cur.proofsOld} and no longer has it at ${cur.proofsNow}. ` +
            `A proof file is never removed by trail: someone deleted the evidence of when ${id ?? 'that commit'} existed. ` +
            `The witness keeps the old proofs branch; OpenTimestamps proofs cannot be fetched again from the calendars.`,
        });
      }
    }
  }
  for (const i of items) {
    for (const a of i.added) {
      if (a.kind === 'proofs' || i.watch.proofWaits[a.id]) continue;
      i.watch.proofWaits[a.id] = { arrival: a.arrival, kind: a.kind, state: 'missing' };
    }
  }
  // Where each waiting commit's proof is now.
  const names: string[] = [];
  for (const i of items)
    if (i.proofsNow) for (const id of Object.keys(i.watch.proofWaits)) names.push(`${i.proofsNow}:${proofPath(id)}`);
  const found = await existing(gitDir, names);
  const toRead = new Map<string, { item: ProofItem; id: string }[]>();
  for (const i of items) {
    for (const [id, wait] of Object.entries(i.watch.proofWaits)) {
      const blob = i.proofsNow ? found.get(`${i.proofsNow}:${proofPath(id)}`) : undefined;
      if (!blob) {
        wait.state = 'missing';
        delete wait.blob;
        continue;
      }
      if (wait.blob === blob && wait.state === 'pending' && !wait.unchecked) continue;
      wait.blob = blob;
      const l = toRead.get(blob) ?? [];
      l.push({ item: i, id });
      toRead.set(blob, l);
    }
  }
  const blobs = await readObjects(gitDir, [...toRead.keys()]);
  for (const [blob, users] of toRead) {
    const bytes = blobs.get(blob)?.data;
    for (const { item, id } of users) {
      const wait = item.watch.proofWaits[id]!;
      const v: ProofVerdict = bytes
        ? await judgeProof(bytes, id, item.explorer)
        : { state: 'invalid', reason: 'the proof file cannot be read' };
      if (v.state === 'anchored') {
        delete item.watch.proofWaits[id];
        item.watch.anchored++;
      } else if (v.state === 'pending') {
        wait.state = 'pending';
        wait.unchecked = v.unchecked;
        wait.detail = v.detail;
      } else {
        wait.state = 'pending';
        wait.unchecked = false;
        wait.detail = v.reason;
        findings.push({
          key: `proofbad|${item.w.repository}|${item.proofsRef}|${id}|${blob}`,
          kind: 'proof-invalid',
          severity: 'finding',
          event: true,
          ...item.w,
          ref: item.proofsRef,
          commits: [id, ...(item.proofsNow ? [item.proofsNow] : [])],
          times: { witnessSaw: iso(now) },
          title: `the proof of ${id.slice(0, 12)} on ${item.w.host}/${item.w.name} does not hold`,
          message: `${proofPath(id)} on ${item.proofsRef} does not prove that ${id} existed: ${v.reason}. A forged or altered proof (explorer trusted: ${item.explorer.url}).`,
        });
      }
    }
  }
  let pending = 0;
  let missing = 0;
  for (const i of items) {
    const late: Overdue = { ids: [], oldest: Infinity };
    const stuck: Overdue = { ids: [], oldest: Infinity };
    const stuckAfter = Math.max(i.grace, PENDING_LIMIT_S);
    for (const [id, wait] of Object.entries(i.watch.proofWaits)) {
      const age = now - wait.arrival;
      if (wait.state === 'pending') {
        pending++;
        if (age > stuckAfter * 1000) overdue(stuck, id, wait.arrival);
      } else if (age > i.grace * 1000) overdue(late, id, wait.arrival);
      else missing++;
    }
    const seen = (o: Overdue) =>
      `${o.ids.slice(0, 10).join(', ')}${o.ids.length > 10 ? ` and ${o.ids.length - 10} more` : ''}`;
    if (late.ids.length)
      findings.push(
        overdueFinding(i, 'proofmissing', late, now, {
          title: `${late.ids.length} commit(s) of ${i.w.host}/${i.w.name} have no proof after ${duration(i.grace)}`,
          message:
            `These commits reached GitHub more than ${duration(i.grace)} ago (the oldest by ${iso(late.oldest)}) and ${i.proofsRef} holds no proof for them: ${seen(late)}. ` +
            `Without a proof nothing outside the host shows when they existed; the host's anchoring is failing, or its proofs are withheld.`,
        }),
      );
    // A proof that never leaves "pending" proves nothing: a calendar that never commits to
    // Bitcoin (down, or one the host made up) would keep it so for ever, and pending alone
    // is no finding. Bitcoin takes hours, not days.
    if (stuck.ids.length)
      findings.push(
        overdueFinding(i, 'proofstuck', stuck, now, {
          title: `${stuck.ids.length} proof(s) of ${i.w.host}/${i.w.name} still pending after ${duration(stuckAfter)}`,
          message:
            `These commits reached GitHub more than ${duration(stuckAfter)} ago (the oldest by ${iso(stuck.oldest)}) and their proofs on ${i.proofsRef} are still only promises of a calendar, never upgraded to a Bitcoin attestation: ${seen(stuck)}. ` +
            `Until they are, nothing outside the host shows when these commits existed: the host's upgrades are failing, or its calendars never commit to Bitcoin (check the calendar URLs in the proofs).`,
        }),
      );
  }
  return { findings, pending, missing };
}

/** Commits whose proof is overdue, and when the oldest of them reached GitHub. */
interface Overdue {
  ids: string[];
  oldest: number;
}

function overdue(o: Overdue, id: string, arrival: number): void {
  o.ids.push(id);
  o.oldest = Math.min(o.oldest, arrival);
}

/** A condition (it clears once the proofs are there) naming up to 50 of the commits. */
function overdueFinding(
  i: ProofItem,
  key: string,
  o: Overdue,
  now: number,
  text: { title: string; message: string },
): NewFinding {
  return {
    key: `${key}|${i.w.repository}|${i.w.host}/${i.w.name}`,
    kind: 'proof-missing',
    severity: 'finding',
    event: false,
    ...i.w,
    ref: i.proofsRef,
    commits: o.ids.slice(0, 50),
    times: { oldestArrivedBy: iso(o.oldest), checkedAt: iso(now) },
    ...text,
  };
}

/** How long a proof may stay pending (a calendar's promise) before that is a finding: a
 * calendar commits to Bitcoin within hours; three days leaves room for a slow week-end. */
export const PENDING_LIMIT_S = 3 * 24 * 3600;
