import type { Command } from 'commander';
import { diffStates } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { patchFor } from '../report/patch.js';
import { safeText } from '../util/bytes.js';
import { changesJson, printChanges } from './changes.js';
import { readLog } from '../record/commit/history.js';
import { trailContext } from './session.js';

export function registerShow(program: Command): void {
  program
    .command('show')
    .argument('[rev]', 'the commit (observed: the last one)', 'observed')
    .option('--stat', 'only the list of changes, no content')
    .description('one commit: who, when, why, and what changed')
    .addHelpText('after', '\nExamples:\n  trail show\n  trail show 3f2a9c1e --stat')
    .action(async (rev: string, opts: { stat?: boolean }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const commit = await repo.resolve(rev);
      const [entry] = await readLog(repo, commit, { max: 1 });
      const after = { kind: 'commit' as const, entries: await readState(repo, commit) };
      const parent = entry!.parents[0];
      const before = { kind: 'commit' as const, entries: parent ? await readState(repo, parent) : new Map() };
      const changes = diffStates(before.entries, after.entries);
      out.line(`${out.color.yellow('commit ' + commit)}`);
      out.line(`Author: ${entry!.author} <${entry!.email}>`);
      out.line(`Date:   ${entry!.date}`);
      out.line('');
      out.line('    ' + safeText(entry!.subject));
      for (const l of entry!.body.trimEnd().split('\n')) if (l) out.line('    ' + safeText(l));
      out.line('');
      printChanges(out, changes);
      const patch = opts.stat ? '' : await patchFor(repo, before, after, changes);
      if (patch) out.line('\n' + patch.trimEnd());
      out.result({ ...entry, changes: changesJson(changes), patch: opts.stat ? undefined : patch });
    });
}
