/**
 * Every ref trail writes in a shadow repository, named here and nowhere else, each with what
 * it holds and whether it is published (pushed off the host, to the review remote: README,
 * "Formats") or local (never leaves the host). A new ref is added here first.
 *
 * Why in util/: record/ writes most of them, but anchor/ writes the notes and is record's
 * peer on the data path (peers do not import each other), and act/review/ pushes them.
 *
 * The push refuses every ref under refs/trail/ (act/review/push.ts, isLocalOnly), so a secret's
 * bytes or a command line can never be sent by mistake; logs and access, published by the
 * README's Formats, are refused too until their push is written.
 */
export const Refs = {
  /** The trail: what was on disk, change by change. Published (<prefix>/observed). */
  observed: 'refs/heads/observed',
  /** The baseline people accepted (trail accept, a merged review). Published
   * (<prefix>/approved; on the remote it also moves by merges). */
  approved: 'refs/heads/approved',
  /** Signed checkpoints (heartbeats of the trail). Published. Nothing writes it yet. */
  checkpoints: 'refs/heads/checkpoints',
  /** Every OpenTimestamps proof, as files on a branch. Published. Nothing writes it yet. */
  proofs: 'refs/heads/proofs',
  /** The OpenTimestamps proof of each commit, as git notes (anchor/). Published
   * (refs/notes/<prefix>/ots). */
  notes: 'refs/notes/trail-ots',
  /** The real bytes of secret files, keyed by their HMAC digest. Local; never anchored. */
  secrets: 'refs/trail/secrets',
  /** Settings (`trail config`), one commit per change. Local. */
  config: 'refs/trail/config',
  /** The policy and its scan rules (decide/), one commit per change. Local. */
  policy: 'refs/trail/policy',
  /** Checkpoints of the tracked logs' state (logs/). Published (branch logs). */
  logs: 'refs/trail/logs',
  /** The appended bytes of tracked logs, when kept (logs.keepAppended). Local. */
  logsData: 'refs/trail/logs-data',
  /** Who read the files of access.paths (attribute/access.ts). Published (branch access). */
  access: 'refs/trail/access',
  /** The fetched tip of the remote's approved branch (act/review/). Local: a fetched copy. */
  remoteApproved: 'refs/trail/review/remote-approved',
  /** Under it, /observed and /approved: what the remote held when verify last compared
   * (act/review/witness.ts). Local: fetched copies. */
  witness: 'refs/trail/review/witness',
} as const;

/** The branches a host publishes, by their name on the remote (`trail/HOST/NAME/<name>`),
 * with the local ref each comes from: README "Formats" (what a witness reads). */
export const PUBLISHED_BRANCHES = {
  observed: Refs.observed,
  approved: Refs.approved,
  logs: Refs.logs,
  access: Refs.access,
  proofs: Refs.proofs,
  checkpoints: Refs.checkpoints,
} as const;

export type PublishedBranch = keyof typeof PUBLISHED_BRANCHES;

/** The refs that leave the host (the branches above, and the notes for old readers); every
 * other ref in Refs is local. */
export const PUBLISHED_REFS: readonly string[] = [
  Refs.observed,
  Refs.approved,
  Refs.checkpoints,
  Refs.proofs,
  Refs.notes,
  Refs.logs,
  Refs.access,
];

/** Where trail's own refs live. The review push refuses anything under it; the publisher
 * sends only the published ones (logs, access), by its allow-list (act/publish/published-refs.ts). */
export const LOCAL_PREFIX = 'refs/trail/';

/** Whether the push refuses a ref: everything under refs/trail/. */
export function isLocalOnly(ref: string): boolean {
  return ref.startsWith(LOCAL_PREFIX);
}

/** The names on the review remote (GitHub) under a host's prefix (act/review/remote.ts). */
export function remoteNames(prefix: string) {
  return {
    /** branch: Refs.observed, force-pushed */
    observed: `${prefix}/observed`,
    /** branch: Refs.approved */
    approved: `${prefix}/approved`,
    /** branches of reviews: a pull request's head each */
    reviewPrefix: `${prefix}/review/`,
    /** Refs.notes */
    notes: `refs/notes/${prefix}/ots`,
  };
}
