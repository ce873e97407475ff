import { Exit, TrailError } from '../util/errors.js';
import { commitMessage, writeCommit, type Actor } from '../record/commit/commit.js';
import { diffStates, type Change } from '../record/model/diff.js';
import { LooseWriter } from '../record/store/loose-writer.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { inScope } from '../record/restore.js';
import type { State } from '../record/model/state.js';
import { writeSnapshotTree } from '../record/tree/tree-saver.js';
import { display } from '../util/bytes.js';

/**
 * Moves the accepted baseline: approved becomes `target` (or approved with just `paths` taken
 * from it). Always a commit of its own — author = who accepted, parents = the old approved
 * and what was accepted — so the acceptance itself is in the trail.
 */
export async function accept(
  repo: Repo,
  target: string,
  paths: string[],
  actor: Actor,
): Promise<{ commit?: string; changes: Change[] }> {
  const approved = await repo.resolve(Refs.approved);
  const before = await readState(repo, approved);
  const wanted = await readState(repo, target);
  // A path in neither is a typo, not "nothing to accept" (as revert refuses one).
  const unknown = paths.filter((p) => p !== '' && !before.has(p) && !wanted.has(p));
  if (unknown.length)
    throw new TrailError(
      `${unknown.map(display).join(', ')}: neither in ${target.slice(0, 12)} nor in approved (nothing to accept there)`,
      Exit.usage,
    );
  let next: State = wanted;
  if (paths.length) {
    const scope = inScope(paths);
    next = new Map([...before].filter(([p]) => !scope(p)));
    for (const [p, e] of wanted) if (scope(p)) next.set(p, e);
  }
  const changes = diffStates(before, next);
  if (!changes.length) return { changes };
  const writer = new LooseWriter(repo.gitDir);
  const { root } = await writeSnapshotTree(next, writer);
  const what = paths.length ? paths.map(display).join(', ') : 'everything';
  const commit = await writeCommit(writer, {
    tree: root,
    parents: approved === target ? [approved] : [approved, target],
    author: actor,
    message: commitMessage(`accept ${what} as of ${target.slice(0, 12)}`, [], {
      'Trail-Action': 'accept',
      'Trail-Accepted': target,
    }),
  });
  await writer.finish();
  await repo.updateRef(Refs.approved, commit, approved, `trail accept by ${actor.name}`);
  return { commit, changes };
}
