// `trail verify`: does every commit of the trail carry a proof of itself, and do the proofs
// that reached Bitcoin agree with the blocks? What each check proves:
// - git fsck: every object re-hashes to its id and every parent/tree/blob is there, so a
//   commit id stands for the whole history and content below it.
// - proof digest = commit id: the proof covers exactly this commit (and, through its id,
//   everything below it). A swapped or altered note fails here or at the block.
// - the attested message = the block's merkle root (from the explorer, which we trust and
//   say so): the commit existed before that block was mined, a time no local root can move.
// - commit time ≤ block time (+2 h, Bitcoin's own tolerance for header times): a commit
//   cannot claim to be younger than its proof. A proof obtained long after the commit's
//   date, or an ancestor anchored in a later block than its descendant, is what a rewritten
//   and re-stamped (back-dated) history looks like; honest causes exist (a host offline for
//   days, calendars confirming at different speeds), so these are warnings that name the
//   commits, not failures.
// - a proof for a commit no anchored ref reaches: history that vanished from the refs. The
//   trail's refs only ever move forward (a revert is a new commit), so this is a failure;
//   anything that retires a branch must keep its commits reachable (e.g. refs/trail/archive/).
// What this cannot see alone: a ref reset to an older commit with the newer proofs deleted
// leaves a shorter history consistent with itself; outside witnesses (syslog, the pushed
// remote) catch that.
import { Exit, TrailError } from '../util/errors.js';
import { EsploraClient } from './esplora-client.js';
import { checkAgainstBlocks, type BitcoinCheck } from './proof-check.js';
import type { AnchorOptions } from './options.js';
import { parseProof, pendingOf } from './proof-tree.js';
import { git, everNoted, anchoredRefs, listCommits, readProofs, resolveCommit, type CommitInfo } from './shadow-git.js';
import { loadQueue } from './stamp-queue.js';
import { digestMismatch } from './what-is-stamped.js';

export type { BitcoinCheck };
export type VerifyStatus = 'verified' | 'pending' | 'failed';

/** Proposed `trail verify` exit codes. */
export const VERIFY_EXIT: Record<VerifyStatus, number> = {
  verified: Exit.ok,
  pending: Exit.pending,
  failed: Exit.tampered,
};

export interface CommitVerdict {
  id: string;
  /** committer time, unix seconds */
  time: number;
  status: VerifyStatus;
  /** why the status is not 'verified' (empty when verified) */
  reasons: string[];
  bitcoin: BitcoinCheck[];
  /** calendars whose pending attestation is still waiting for a block */
  pendingCalendars: string[];
  /** the earliest block time that verified, unix seconds */
  anchoredAt?: number;
}

export interface Finding {
  severity: 'fail' | 'warn';
  kind:
    | 'object-integrity'
    | 'missing-proof'
    | 'unreadable-proof'
    | 'digest-mismatch'
    | 'block-mismatch'
    | 'no-such-block'
    | 'commit-after-anchor'
    | 'late-proof'
    | 'anchored-after-descendant'
    | 'proof-without-ref';
  commit?: string;
  message: string;
}

export interface VerifyResult {
  status: VerifyStatus;
  /** the explorer whose block merkle roots were trusted (lite verification) */
  explorer?: string;
  refs: Record<string, string>;
  commits: CommitVerdict[];
  findings: Finding[];
  counts: Record<VerifyStatus, number>;
}

export interface VerifyOptions extends Pick<AnchorOptions, 'esplora' | 'timeoutMs'> {
  /** skip the explorer (offline): Bitcoin attestations count as unchecked → pending */
  offline?: boolean;
  /** a proof this much younger than its commit is flagged (default two days) */
  maxProofDelaySeconds?: number;
}

const BLOCK_TIME_TOLERANCE = 2 * 3600;

export async function verify(gitDir: string, rev: string | undefined, opts: VerifyOptions): Promise<VerifyResult> {
  const findings: Finding[] = [];
  const refs = await anchoredRefs(gitDir);
  let tips: string[];
  if (rev !== undefined) {
    const id = await resolveCommit(gitDir, rev);
    // The same usage error (exit 2) as every other command's unknown revision, not a crash.
    if (!id) throw new TrailError(`no such revision in the trail: ${rev}`, Exit.usage);
    tips = [id];
  } else {
    tips = [...new Set(refs.values())];
  }

  findings.push(...(await checkObjects(gitDir)));
  let commits: CommitInfo[];
  try {
    commits = await listCommits(gitDir, tips);
  } catch (err) {
    // A missing or corrupt commit stops rev-list; fsck above has already said which.
    findings.push({
      severity: 'fail',
      kind: 'object-integrity',
      message: `history cannot be walked: ${(err as Error).message}`,
    });
    commits = [];
  }
  let proofs: Map<string, Buffer>;
  try {
    proofs = await readProofs(gitDir);
  } catch (err) {
    findings.push({
      severity: 'fail',
      kind: 'object-integrity',
      message: `the proof notes cannot be read: ${(err as Error).message}`,
    });
    proofs = new Map();
  }
  const queue = await loadQueue(gitDir);
  // Unreadable notes history (corrupt objects) is already a finding above.
  const hadProof = await everNoted(gitDir).catch(() => new Set<string>());
  const explorer = opts.offline ? undefined : new EsploraClient(opts.esplora, opts.timeoutMs);
  const maxDelay = opts.maxProofDelaySeconds ?? 2 * 86400;

  const verdicts: CommitVerdict[] = [];
  const byId = new Map<string, CommitVerdict>();
  for (const c of commits) {
    const v: CommitVerdict = {
      id: c.id,
      time: c.time,
      status: 'verified',
      reasons: [],
      bitcoin: [],
      pendingCalendars: [],
    };
    verdicts.push(v);
    byId.set(c.id, v);
    const fail = (kind: Finding['kind'], message: string) => {
      v.status = 'failed';
      v.reasons.push(message);
      findings.push({ severity: 'fail', kind, commit: c.id, message });
    };
    const pending = (reason: string) => {
      if (v.status !== 'failed') v.status = 'pending';
      v.reasons.push(reason);
    };

    const bytes = proofs.get(c.id);
    if (!bytes) {
      const q = queue.entries[c.id];
      if (q)
        pending(
          `queued for stamping since ${new Date(q.queuedAt).toISOString()}${q.lastError ? ` (last try: ${q.lastError})` : ''}`,
        );
      else if (hadProof.has(c.id))
        fail('missing-proof', 'the proof of this commit was deleted (the notes history still has it)');
      else pending('not yet queued for stamping');
      continue;
    }
    let d;
    try {
      d = parseProof(bytes);
    } catch (err) {
      fail('unreadable-proof', `proof does not parse: ${(err as Error).message || 'bad bytes'}`);
      continue;
    }
    const mismatch = digestMismatch(d, c.id);
    if (mismatch) {
      fail('digest-mismatch', mismatch);
      continue;
    }
    // A pending attestation stays in the proof after its upgrade (as the reference client
    // keeps it); it is only "waiting" while nothing below its node reached a block.
    v.pendingCalendars = [
      ...new Set(
        pendingOf(d.timestamp)
          .filter((p) => !p.node.isTimestampComplete())
          .map((p) => p.attestation.uri!),
      ),
    ];
    const btc = await checkAgainstBlocks(d.timestamp, explorer);
    v.bitcoin = btc.checks;
    if (btc.anchoredAt !== undefined) v.anchoredAt = btc.anchoredAt;
    for (const f of btc.failures) fail(f.kind, f.message);
    if (v.status === 'failed') continue;
    if (v.anchoredAt === undefined) {
      if (btc.checks.length) pending(`Bitcoin attestation not checked (${v.bitcoin.map((b) => b.detail).join('; ')})`);
      else pending(`waiting for a Bitcoin block (calendars: ${v.pendingCalendars.join(', ') || 'none'})`);
      continue;
    }
    if (c.time > v.anchoredAt + BLOCK_TIME_TOLERANCE) {
      fail('commit-after-anchor', `commit claims ${iso(c.time)} but was already in Bitcoin at ${iso(v.anchoredAt)}`);
    } else if (v.anchoredAt - c.time > maxDelay) {
      findings.push({
        severity: 'warn',
        kind: 'late-proof',
        commit: c.id,
        message: `proof is ${Math.round((v.anchoredAt - c.time) / 3600)} h younger than the commit's date ${iso(c.time)} (rewritten and back-dated, or stamped after a long outage)`,
      });
    }
  }

  // Ancestors are made, and so stamped, before their descendants.
  for (const c of commits) {
    const v = byId.get(c.id)!;
    if (v.anchoredAt === undefined) continue;
    for (const p of c.parents) {
      const pv = byId.get(p);
      if (pv?.anchoredAt !== undefined && pv.anchoredAt > v.anchoredAt + BLOCK_TIME_TOLERANCE) {
        findings.push({
          severity: 'warn',
          kind: 'anchored-after-descendant',
          commit: p,
          message: `anchored at ${iso(pv.anchoredAt)}, after its child ${c.id} (${iso(v.anchoredAt)}): re-stamped?`,
        });
      }
    }
  }

  if (rev === undefined) {
    for (const id of proofs.keys()) {
      if (!byId.has(id))
        findings.push({
          severity: 'fail',
          kind: 'proof-without-ref',
          commit: id,
          message:
            'a proof exists for a commit that no trail ref reaches any more: history was rewritten, or a ref reset or deleted',
        });
    }
  }

  const counts: Record<VerifyStatus, number> = { verified: 0, pending: 0, failed: 0 };
  for (const v of verdicts) counts[v.status]++;
  const hardFailure = findings.some((f) => f.severity === 'fail');
  const status: VerifyStatus = hardFailure ? 'failed' : counts.pending > 0 ? 'pending' : 'verified';
  return {
    status,
    ...(explorer ? { explorer: explorer.url } : {}),
    refs: Object.fromEntries(refs),
    commits: verdicts,
    findings,
    counts,
  };
}

/** `git fsck`: every object re-hashed, every link present; one finding per complaint. */
async function checkObjects(gitDir: string): Promise<Finding[]> {
  // fsck's exit status is a bit set of problem kinds; any non-zero one is a finding.
  const r = await git(
    gitDir,
    ['fsck', '--no-dangling', '--no-progress'],
    undefined,
    Array.from({ length: 256 }, (_, i) => i),
  );
  if (r.code === 0) return [];
  const lines = (r.stderr + '\n' + r.stdout.toString('utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(error|fatal|missing|broken|bad|hash mismatch)/i.test(l));
  const out: Finding[] = lines.slice(0, 50).map((l) => {
    const id = /\b([0-9a-f]{40}|[0-9a-f]{64})\b/.exec(l)?.[1];
    return {
      severity: 'fail' as const,
      kind: 'object-integrity' as const,
      ...(id ? { commit: id } : {}),
      message: `git fsck: ${l}`,
    };
  });
  if (out.length === 0)
    out.push({
      severity: 'fail',
      kind: 'object-integrity',
      message: `git fsck exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`,
    });
  return out;
}

function iso(unix: number): string {
  return new Date(unix * 1000).toISOString();
}
