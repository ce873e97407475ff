import type { Command } from 'commander';
import { diffStates } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { inScope } from '../record/restore.js';
import { drift } from '../record/snapshot.js';
import { patchFor, type Side } from '../report/patch.js';
import { changesJson, printChanges } from './changes.js';
import { watchedPath } from './paths.js';
import { trailContext } from './session.js';

async function side(repo: Repo, rev: string | undefined): Promise<Side> {
  if (rev === undefined) return { kind: 'disk', root: repo.info.dir, entries: (await drift(repo)).scan.state };
  return { kind: 'commit', entries: await readState(repo, await repo.resolve(rev)) };
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
        const from = await side(repo, revs[0] ?? Refs.observed);
        const to = await side(repo, revs[1]);
        const scope = inScope(only.map((p) => watchedPath(repo.info.dir, p)));
        const changes = diffStates(from.entries, to.entries, scope);
        const patch = opts.stat ? '' : await patchFor(repo, from, to, changes);
        printChanges(out, changes);
        if (patch) out.line('\n' + patch.trimEnd());
        out.result({ changes: changesJson(changes), patch: opts.stat ? undefined : patch });
      },
    );
}
