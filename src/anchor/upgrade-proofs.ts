// Pending proofs → Bitcoin proofs. Every commit of a batch shares the batch's calendar
// commitments, so each (calendar, commitment) is asked once per run, however many commits
// hang below it; the answers are merged into every proof that needs them and the changed
// notes are rewritten as one notes commit.
import { withAnchorLock } from './anchor-lock.js';
import { fetchUpgrade, type UpgradeAnswer } from './calendar-client.js';
import type { AnchorOptions } from './options.js';
import { calendarWhitelist } from './calendar-whitelist.js';
import { isBitcoin, type OtsDetached } from './ots-package.js';
import { parseProof, pendingOf } from './proof-tree.js';
import { publishProofs } from './proofs-branch.js';
import { readProofs, writeProofNotes } from './shadow-git.js';

export interface UpgradeResult {
  /** commits whose proof gained a Bitcoin attestation */
  upgraded: string[];
  /** commits still waiting for a block */
  pending: string[];
  /** commits already carrying a Bitcoin attestation (nothing to ask) */
  complete: number;
  /** calendar questions asked this run */
  requests: number;
  /** calendars that could not be asked, and commitments they did not know */
  problems: { calendar: string; reason: string }[];
  /** notes that do not parse (verify reports them as failures) */
  unreadable: string[];
}

export async function upgrade(
  gitDir: string,
  opts: Pick<AnchorOptions, 'calendars' | 'timeoutMs'> & { proofsBranch?: boolean },
): Promise<UpgradeResult> {
  // Only calendars we were configured with, or the public ones the package trusts, are
  // asked: a note is data, and must not be able to send trail to an arbitrary URL.
  const allowed = calendarWhitelist(opts.calendars);

  return withAnchorLock(gitDir, async () => {
    const proofs = await readProofs(gitDir);
    const result: UpgradeResult = { upgraded: [], pending: [], complete: 0, requests: 0, problems: [], unreadable: [] };
    const parsed = new Map<string, OtsDetached>();
    const questions = new Map<string, { uri: string; commitment: number[] }>();
    for (const [commit, bytes] of proofs) {
      let d: OtsDetached;
      try {
        d = parseProof(bytes);
      } catch {
        result.unreadable.push(commit);
        continue;
      }
      if ([...d.timestamp.getAttestations()].some(isBitcoin)) {
        result.complete++;
        continue;
      }
      parsed.set(commit, d);
      for (const p of pendingOf(d.timestamp)) {
        const uri = p.attestation.uri!;
        if (!allowed(uri)) continue;
        questions.set(`${uri} ${p.msg.toString('hex')}`, { uri, commitment: [...p.msg] });
      }
    }

    const answers = new Map<string, UpgradeAnswer>();
    await eachLimited([...questions], 8, async ([key, q]) => {
      result.requests++;
      answers.set(key, await fetchUpgrade(q.uri, q.commitment, opts.timeoutMs));
    });
    const reported = new Set<string>();
    for (const [key, a] of answers) {
      const uri = questions.get(key)!.uri;
      const reason =
        a.kind === 'error'
          ? a.reason
          : a.kind === 'unknown'
            ? 'does not know a commitment of ours (proof altered, or calendar lost it)'
            : undefined;
      if (reason && !reported.has(uri + reason)) {
        reported.add(uri + reason);
        result.problems.push({ calendar: uri, reason });
      }
    }

    const changed = new Map<string, Uint8Array>();
    for (const [commit, d] of parsed) {
      let gained = false;
      for (const p of pendingOf(d.timestamp)) {
        const a = answers.get(`${p.attestation.uri} ${p.msg.toString('hex')}`);
        if (a?.kind !== 'upgraded') continue;
        p.node.merge(a.timestamp);
        gained = true;
      }
      if (gained) {
        changed.set(commit, d.serializeToBytes());
        result.upgraded.push(commit);
      } else {
        result.pending.push(commit);
      }
    }
    const message = `trail: upgraded ${changed.size} proof(s) to Bitcoin attestations`;
    // Branch first, as in stampBatch (a kill between leaves the note pending and the next
    // upgrade writes both again).
    if (opts.proofsBranch !== false) await publishProofs(gitDir, changed, message);
    await writeProofNotes(gitDir, changed, message);
    return result;
  });
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
