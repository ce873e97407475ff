/**
 * The branches a host publishes, by their name on the remote (`trail/HOST/NAME/<name>`), with
 * the local ref each comes from: README "Formats" (what a witness reads). Here, below every
 * layer, because the record layer writes them, anchoring excludes or stamps them and the
 * push sends them. Nothing else of a shadow repository leaves the host.
 */
export const PUBLISHED_REFS = {
  observed: 'refs/heads/observed',
  approved: 'refs/heads/approved',
  logs: 'refs/trail/logs',
  access: 'refs/trail/access',
  proofs: 'refs/heads/proofs',
  checkpoints: 'refs/heads/checkpoints',
} as const;

export type PublishedBranch = keyof typeof PUBLISHED_REFS;
