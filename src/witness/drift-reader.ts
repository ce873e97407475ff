// Open drift (check 7, "what happened"): what a host's observed branch holds that its
// approved branch does not — changes made on the host that nobody accepted yet (by a merged
// review or `trail accept`). Read from the mirror alone: the commits in approved..observed,
// the paths that differ between the two tips, and the oldest of those commits' times. The
// result is kept in the watch with the two tips it was computed for, so that a fleet of
// quiet hosts costs no git process per run: only a host whose observed or approved moved is
// read again.
import { mgit } from './git-reader.js';
import type { Watch } from './state.js';

/** Paths named in the state and the report; the count is always exact. */
const MAX_PATHS = 50;

export interface OpenDrift {
  observed: string;
  approved: string;
  /** commits on observed that approved does not contain */
  commits: number;
  /** paths that differ between approved and observed (trail's own .trail/ manifest left out) */
  paths: number;
  files: string[];
  /** committer time of the oldest drifting commit (the host's clock), ISO */
  since?: string;
}

export async function readDrift(mirror: string, approved: string, observed: string): Promise<OpenDrift> {
  const base = { observed, approved, commits: 0, paths: 0, files: [] as string[] };
  if (approved === observed) return base;
  const log = (
    await mgit(mirror, ['rev-list', '--no-commit-header', '--format=%ct', `${approved}..${observed}`, '--'])
  ).stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
  if (!log.length) return base;
  const diff = (await mgit(mirror, ['diff-tree', '-r', '--name-only', '-z', '--no-renames', approved, observed])).stdout
    .toString('utf8')
    .split('\0')
    .filter((p) => p && p !== '.trail' && !p.startsWith('.trail/'));
  return {
    ...base,
    commits: log.length,
    paths: diff.length,
    files: diff.slice(0, MAX_PATHS),
    since: new Date(Math.min(...log) * 1000).toISOString(),
  };
}

/** The watch's open drift, read again only when one of its two tips moved. Undefined for a
 * host that publishes no approved (or no observed) branch: drift has no meaning there. */
export async function refreshDrift(mirror: string, w: Watch): Promise<OpenDrift | undefined> {
  const { observed, approved } = w.heads;
  if (!observed || !approved) {
    delete w.drift;
    return undefined;
  }
  if (w.drift?.observed === observed && w.drift.approved === approved) return w.drift;
  w.drift = await readDrift(mirror, approved, observed);
  return w.drift;
}
