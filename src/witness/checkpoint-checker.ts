// Check 2: checkpoints. Each new checkpoint commit (oldest first) must carry a valid SSH
// signature by the host's key (pinned with `trail witness trust`, or trusted on first sight
// and reported as such), hold a version-1 record for this host and name, have a sequence
// number above the last accepted one, and name heads that exist and that the published
// branches still contain.
import { parseCheckpoint, HEAD_KINDS, type CheckpointRecord, type Kind } from './checkpoint-record.js';
import { iso, type NewFinding } from './findings.js';
import { checkCommitSignature, fingerprint, type ParsedCommit } from './signature-checker.js';
import type { AcceptedCheckpoint, Watch } from './state.js';
import type { Where } from './ancestry-checker.js';

export interface CheckedCheckpoint {
  commit: ParsedCommit;
  record?: CheckpointRecord;
  /** signature and record good, seq above the previous: it counts */
  accepted: boolean;
}

export interface CheckpointResult {
  checked: CheckedCheckpoint[];
  findings: NewFinding[];
  /** key learned on first sight in this run */
  firstSight?: string;
  /** heads to check against the published branches: kind → ids */
  heads: { kind: (typeof HEAD_KINDS)[number]; id: string; checkpoint: string; seq: number }[];
}

/** The checkpoints in `chain` (oldest first) against the last accepted one. */
export function checkCheckpoints(
  w: Where,
  ref: string,
  chain: ParsedCommit[],
  watch: Watch,
  pinned: string | undefined,
): CheckpointResult {
  const findings: NewFinding[] = [];
  const checked: CheckedCheckpoint[] = [];
  const heads: CheckpointResult['heads'] = [];
  let last: Pick<AcceptedCheckpoint, 'seq' | 'id' | 'time'> | undefined = watch.checkpoint;
  let key = pinned ?? watch.key?.blob;
  let firstSight: string | undefined;
  const base = (c: ParsedCommit) => ({ severity: 'finding' as const, event: true, ...w, ref, commits: [c.id] });
  for (const c of chain) {
    const v = checkCommitSignature(c, key);
    if (v.ok && !key) {
      // Nobody pinned a key for this host: the first one seen is trusted from now on, and said so.
      key = firstSight = v.keyBlob;
    }
    if (!v.ok) {
      checked.push({ commit: c, accepted: false });
      findings.push({
        key: `sig|${w.repository}|${ref}|${c.id}`,
        kind: 'checkpoint-signature',
        ...base(c),
        times: {},
        title: `checkpoint ${c.id.slice(0, 12)} of ${w.host}/${w.name} is not signed by the host's key`,
        message:
          `The checkpoint ${c.id} on ${ref} does not verify against ${key ? `the host's key ${fingerprint(key)}` : 'any key'}: ${v.reason}. ` +
          `Someone other than the host (holding only a token) may have written it, or it was altered. It is not accepted.`,
      });
      continue;
    }
    const p = parseCheckpoint(c.message);
    if (!p.ok || p.record.host !== w.host || p.record.name !== w.name) {
      checked.push({ commit: c, accepted: false });
      findings.push({
        key: `record|${w.repository}|${ref}|${c.id}`,
        kind: 'checkpoint-record',
        ...base(c),
        times: {},
        title: `checkpoint ${c.id.slice(0, 12)} of ${w.host}/${w.name} is not a valid record`,
        message: p.ok
          ? `The checkpoint ${c.id} on ${ref} says it is for ${p.record.host}/${p.record.name}: a host's checkpoints only ever name itself.`
          : `The checkpoint ${c.id} on ${ref} is signed but its message is not a version-1 record: ${p.reason}.`,
      });
      continue;
    }
    const r = p.record;
    if (last && r.seq <= last.seq) {
      checked.push({ commit: c, record: r, accepted: false });
      findings.push({
        key: `seq|${w.repository}|${ref}|${c.id}`,
        kind: 'checkpoint-seq',
        ...base(c),
        commits: [c.id, last.id],
        times: { hostTimeOfThis: r.time, hostTimeOfPrevious: last.time },
        title: `checkpoint sequence of ${w.host}/${w.name} went back (${last.seq} → ${r.seq})`,
        message:
          `The checkpoint ${c.id} carries sequence number ${r.seq}, but ${last.seq} (${last.id}) was already accepted. ` +
          `Sequence numbers are never reused: a replayed, re-made or forged checkpoint, or a host whose trail state was reset.`,
      });
      continue;
    }
    if (last && r.seq > last.seq + 1) {
      findings.push({
        key: `seqgap|${w.repository}|${ref}|${c.id}`,
        kind: 'checkpoint-seq-gap',
        ...base(c),
        severity: 'warning',
        commits: [c.id, last.id],
        times: { hostTimeOfThis: r.time, hostTimeOfPrevious: last.time },
        title: `${r.seq - last.seq - 1} checkpoint(s) of ${w.host}/${w.name} never arrived (${last.seq} → ${r.seq})`,
        message:
          `After sequence ${last.seq} the next checkpoint published is ${r.seq}: checkpoints ${last.seq + 1}–${r.seq - 1} were made and never published ` +
          `(a checkpoints branch reset on the host, or pushes lost). Every checkpoint the daemon makes should reach GitHub.`,
      });
    }
    checked.push({ commit: c, record: r, accepted: true });
    for (const k of HEAD_KINDS) {
      const id = r.heads[k];
      if (id) heads.push({ kind: k, id, checkpoint: c.id, seq: r.seq });
    }
    last = { seq: r.seq, id: c.id, time: r.time };
  }
  return { checked, findings, heads, ...(firstSight ? { firstSight } : {}) };
}

/** A head a checkpoint names that GitHub's branch does not contain (or that does not exist). */
export function headFinding(
  w: Where,
  h: { kind: Kind; id: string; checkpoint: string; seq: number },
  branchRef: string,
  tip: string | undefined,
  missing: boolean,
  seenAt: number,
): NewFinding {
  return {
    key: `heads|${w.repository}|${branchRef}|${h.checkpoint}|${h.id}`,
    kind: 'checkpoint-heads',
    severity: 'finding',
    event: true,
    ...w,
    ref: branchRef,
    commits: [h.checkpoint, h.id, ...(tip ? [tip] : [])],
    times: { witnessSaw: iso(seenAt) },
    title: `checkpoint ${h.seq} of ${w.host}/${w.name} names a ${h.kind} head GitHub ${missing ? 'never received' : 'no longer has'}`,
    message: missing
      ? `Checkpoint ${h.seq} (${h.checkpoint}) says ${h.kind} was at ${h.id} and was pushed with it, but that commit is not on GitHub: the push was tampered with, or the branch was rewritten before the witness looked.`
      : `Checkpoint ${h.seq} (${h.checkpoint}) says ${h.kind} was at ${h.id}, but ${branchRef} ${tip ? `(now ${tip}) does not contain it` : 'does not exist'}: the history the host vouched for was removed.`,
  };
}
