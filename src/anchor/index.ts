// Anchoring: commits → OpenTimestamps proofs (git notes on refs/notes/trail-ots) → Bitcoin.
// Flow, file by file: stamp-queue (what waits) → stamp-batch (one merkle tree, one request
// per calendar) → upgrade-proofs (pending → Bitcoin) → verify-trail / export-proof.
export { stampBatch, type StampOptions, type StampResult, type StampOutcome } from './stamp-batch.js';
export { upgrade, type UpgradeResult } from './upgrade-proofs.js';
export {
  verify,
  VERIFY_EXIT,
  type VerifyResult,
  type VerifyStatus,
  type VerifyOptions,
  type CommitVerdict,
  type Finding,
} from './verify-trail.js';
export { exportProof } from './export-proof.js';
export { queueSummary, unanchoredCommits, type QueueSummary, type Unanchored } from './stamp-queue.js';
export {
  DEFAULT_ANCHOR_OPTIONS,
  DEFAULT_CALENDARS,
  checkAnchorOptions,
  anchorOptionsFromConfig,
  type AnchorOptions,
} from './options.js';
export { NOTES_REF } from './shadow-git.js';
export { publishProofs, proofPath, PROOFS_REF } from './proofs-branch.js';
