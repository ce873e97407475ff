// `trail proof REV`: the commit's .ots, exactly as stored, for checking with any
// OpenTimestamps tool (`ots verify -d <commit id> FILE`).
import { Exit, TrailError } from '../util/errors.js';
import { readProofs, resolveCommit } from './shadow-git.js';

export async function exportProof(gitDir: string, rev: string): Promise<{ commit: string; ots: Buffer }> {
  const commit = await resolveCommit(gitDir, rev);
  // An unknown revision is a usage error (exit 2), as for every other command.
  if (!commit) throw new TrailError(`no such revision in the trail: ${rev}`, Exit.usage);
  const bytes = (await readProofs(gitDir, [commit])).get(commit);
  if (!bytes) throw new Error(`commit ${commit} has no proof yet (run \`trail stamp\`, or wait for the next batch)`);
  return { commit, ots: bytes };
}
