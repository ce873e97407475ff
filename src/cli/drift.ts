import type { Command } from 'commander';
import { diffStates } from '../record/model/diff.js';
import { readState } from '../record/tree/tree-reader.js';
import { Refs } from '../record/repo/repo.js';
import { Exit } from '../util/errors.js';
import { changesJson, printChanges } from './changes.js';
import { plural } from './output.js';
import { trailContext } from './session.js';

export function registerDrift(program: Command): void {
  program
    .command('drift')
    .description('what the trail recorded that was not accepted: observed against approved (exit 3 when any)')
    .addHelpText('after', '\nExamples:\n  trail drift\n  trail drift --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const [approved, observed] = await Promise.all([repo.resolve(Refs.approved), repo.resolve(Refs.observed)]);
      const changes = diffStates(await readState(repo, approved), await readState(repo, observed));
      if (!changes.length) out.line(`no drift: observed matches approved (${approved.slice(0, 12)})`);
      else {
        out.line(
          `${plural(changes.length, 'change')} recorded but not accepted (approved ${approved.slice(0, 12)} → observed ${observed.slice(0, 12)}):`,
        );
        printChanges(out, changes);
      }
      out.result({ approved, observed, changes: changesJson(changes) });
      if (changes.length) process.exitCode = Exit.drift;
    });
}
