// `trail proof REV`: the commit's .ots, exactly as stored, for checking with any
// OpenTimestamps tool (`ots verify -d <commit id> FILE`).
import { readProofs, resolveCommit } from './shadow-git.js';

export async function exportProof(gitDir: string, rev: string): Promise<{ commit: string; ots: Buffer }> {
  const commit = await resolveCommit(gitDir, rev);
  if (!commit) throw new Error(`${rev}: no such commit in ${gitDir}`);
  const bytes = (await readProofs(gitDir, [commit])).get(commit);
  if (!bytes) throw new Error(`commit ${commit} has no proof yet (run \`trail stamp\`, or wait for the next batch)`);
  return { commit, ots: bytes };
}
