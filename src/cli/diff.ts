import type { Command } from 'commander';
import { diffStates } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import type { Entry } from '../record/model/state.js';
import { inScope } from '../record/restore.js';
import { drift } from '../record/snapshot.js';
import { patchFor, type Side } from '../report/patch.js';
import { changesJson, printChanges } from './changes.js';
import { watchedPath } from './paths.js';
import { trailContext } from './session.js';
import { askWatcher } from './ask-watcher.js';
import type { DiffAnswer } from '../watch/query-server.js';
import type { Change } from '../record/model/diff.js';

async function side(repo: Repo, rev: string | undefined): Promise<Side> {
  if (rev === undefined) return { kind: 'disk', root: repo.info.dir, entries: (await drift(repo)).scan.state };
  return { kind: 'commit', entries: await readState(repo, await repo.resolve(rev)) };
}

/** The two sides of a watcher's answer, as far as a patch needs them: the changed paths'
 * recorded entries (their blobs) and their entries on disk (the bytes are read there). */
function sidesOf(a: DiffAnswer): { from: Side; to: Side } {
  const old = new Map<string, Entry>();
  const now = new Map<string, Entry>();
  for (const c of a.changes) {
    if (c.before) old.set(c.path, { meta: c.before, oid: c.oid });
    if (c.after) now.set(c.path, { meta: c.after });
  }
  return { from: { kind: 'commit', entries: old }, to: { kind: 'disk', root: a.dir, entries: now } };
}

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .argument('[a]', 'from this revision (default: the last commit)')
    .argument('[b]', 'to this revision (default: the disk as it is now)')
    .argument('[paths...]', 'after --, only these paths')
    .option('--stat', 'only the list of changes, no content')
    .description('what differs between two revisions, or between a revision and the disk')
    .addHelpText(
      'after',
      '\nExamples:\n  trail diff                     the disk against the last commit\n  trail diff approved            the disk against the accepted baseline\n  trail diff HEAD~3 HEAD -- nginx/nginx.conf',
    )
    .action(
      async (a: string | undefined, b: string | undefined, paths: string[], opts: { stat?: boolean }, cmd: Command) => {
        const { out, repo } = await trailContext(cmd);
        // commander puts what follows `--` into the last variadic argument.
        const dash = cmd.args.indexOf('--');
        let revs = [a, b].filter((x): x is string => x !== undefined);
        let only = paths;
        if (dash >= 0) {
          revs = cmd.args.slice(0, dash);
          only = cmd.args.slice(dash + 1);
        }
        const scope = inScope(only.map((p) => watchedPath(repo.info.dir, p)));
        // The last commit against the disk: a running watcher names what changed (README,
        // "Watching"), and only those paths need reading; otherwise the whole tree is scanned.
        const asked = revs.length ? undefined : await askWatcher<DiffAnswer>(repo.info.name, { op: 'diff' });
        let from: Side, to: Side, changes: Change[];
        if (asked) {
          ({ from, to } = sidesOf(asked.answer));
          changes = asked.answer.changes.filter((c) => scope(c.path));
        } else {
          from = await side(repo, revs[0] ?? Refs.observed);
          to = await side(repo, revs[1]);
          changes = diffStates(from.entries, to.entries, scope);
        }
        const patch = opts.stat ? '' : await patchFor(repo, from, to, changes);
        printChanges(out, changes);
        if (patch) out.line('\n' + patch.trimEnd());
        out.result({
          changes: changesJson(changes),
          patch: opts.stat ? undefined : patch,
          answeredBy: asked ? { watcher: asked.pid } : 'scan',
        });
      },
    );
}
