// The witness's own history, anchored like a host's trail: every state commit on
// refs/witness/state (StateDir.record) gets an OpenTimestamps proof as a git note on
// refs/notes/trail-ots in the mirror, and pending proofs are upgraded on later runs. The work
// is anchor/'s (stamp-batch, upgrade-proofs), run in the child process of anchor-job.ts:
//  - only refs/witness/state is stamped, never the hosts' commits the mirror also holds
//    (their proofs are theirs, checked by proof-checker.ts);
//  - force: every run asks every calendar again, ignoring the batch window and the backoff
//    (runs are a schedule apart already), so what a calendar that was down left unstamped
//    is stamped by the next run;
//  - a whole-job deadline: a calendar that hangs, or many pending proofs to ask about, must
//    never hold the check up. The child is killed (a stamp is safe to interrupt anywhere:
//    the commits simply stay unstamped) and the check's verdict is untouched.
import { runAnchorJob, type AnchorJobResult } from '../anchor/anchor-job.js';
import { DEFAULT_CALENDARS, anchorOptionsFromConfig } from '../anchor/options.js';
import { readProofs } from '../anchor/shadow-git.js';
import { mgit } from './git-reader.js';
import type { WitnessState } from './state.js';

export const STATE_REF = 'refs/witness/state';
/** Per calendar request: short, since the witness is often a scheduled job with a budget. */
export const WITNESS_ANCHOR_TIMEOUT_MS = 5_000;

/** The attestation tags of the OpenTimestamps format (python-opentimestamps notary.py). */
const BITCOIN_TAG = Buffer.from('0588960d73d71901', 'hex');

export interface AnchoringView {
  calendars: string[];
  /** commits on refs/witness/state */
  commits: number;
  /** with a proof that carries a Bitcoin attestation */
  anchored: number;
  /** with a proof still waiting for a block */
  pending: number;
  /** without a proof yet: stamped by a later run */
  unstamped: number;
  /** this run (check only) */
  stamped?: number;
  upgraded?: number;
  /** what went wrong this run: a calendar down, the deadline; retried next run */
  problems: string[];
  /** `witness add --no-anchor`: the witness's history is not anchored */
  off?: boolean;
}

export function witnessCalendars(state: WitnessState): string[] {
  if (state.anchor?.off) return [];
  return state.anchor?.calendars?.length ? state.anchor.calendars : DEFAULT_CALENDARS;
}

/** How many of the witness's own commits are anchored, pending, unstamped (no network). */
export async function anchoringStatus(mirror: string, calendars: string[]): Promise<AnchoringView> {
  const tip = await mgit(mirror, ['rev-parse', '--verify', '--quiet', STATE_REF], { okCodes: [0, 1] });
  const ids =
    tip.code === 0
      ? (await mgit(mirror, ['rev-list', STATE_REF])).stdout.toString('utf8').split('\n').filter(Boolean)
      : [];
  const proofs = ids.length ? await readProofs(mirror, ids) : new Map<string, Buffer>();
  let anchored = 0;
  // A byte search for the Bitcoin attestation's 8-byte tag instead of parsing each proof:
  // parsing needs the opentimestamps package (40 MB, ~0.3 s to load), which `witness list`
  // should not pay for. A random 64-bit match in a proof's hashes is not a practical concern,
  // and `trail verify`-style checking of these proofs stays possible by hand (README).
  for (const bytes of proofs.values()) if (bytes.includes(BITCOIN_TAG)) anchored++;
  return {
    calendars,
    commits: ids.length,
    anchored,
    pending: proofs.size - anchored,
    unstamped: ids.length - proofs.size,
    problems: [],
  };
}

/** Stamps the new state commits and upgrades the earlier ones; never throws, never waits
 * past its deadline. Run while the witness holds its state dir's lock. */
export async function anchorWitnessState(
  mirror: string,
  state: WitnessState,
  timeoutMs = WITNESS_ANCHOR_TIMEOUT_MS,
): Promise<AnchoringView> {
  const calendars = witnessCalendars(state);
  if (state.anchor?.off) return { ...(await anchoringStatus(mirror, calendars)), off: true };
  const problems: string[] = [];
  let r: AnchorJobResult = {};
  // Stamp then upgrade, one request per calendar each, plus the child's start: past this,
  // the job is stopped.
  const deadlineMs = timeoutMs * 3 + 10_000;
  try {
    const opts = anchorOptionsFromConfig({ 'anchor.calendars': calendars, 'anchor.timeoutMs': timeoutMs });
    const signal = AbortSignal.timeout(deadlineMs);
    r = await runAnchorJob(
      mirror,
      opts,
      { stamp: true, upgrade: true, force: true, refs: [STATE_REF], proofsBranch: false },
      signal,
    );
    if (signal.aborted)
      r = { ...r, error: `stopped after ${Math.round(deadlineMs / 1000)} s; what is left is stamped next run` };
  } catch (err) {
    r = { error: (err as Error).message };
  }
  if (r.error) problems.push(r.error);
  for (const f of r.stamp?.failed ?? []) problems.push(`calendar ${f.url}: ${f.error ?? 'failed'}`);
  if (r.stamp && r.stamp.outcome !== 'stamped' && r.stamp.outcome !== 'nothing-to-stamp')
    problems.push(`${r.stamp.queued} witness commit(s) not stamped (${r.stamp.outcome}); retried next run`);
  if (r.upgrade?.problems) problems.push(`${r.upgrade.problems} calendar problem(s) while upgrading proofs`);
  const view = await anchoringStatus(mirror, calendars);
  return {
    ...view,
    stamped: r.stamp?.stamped ?? 0,
    upgraded: r.upgrade?.upgraded ?? 0,
    problems,
  };
}
