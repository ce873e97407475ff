import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import { accept } from '../decide/accept.js';
import { changesJson, printChanges } from './changes.js';
import { plural } from './output.js';
import { watchedPath } from './paths.js';
import { asWriter, trailContext } from './session.js';

export function registerAccept(program: Command): void {
  program
    .command('accept')
    .argument('[rev]', "the revision to accept (observed: the trail's last commit)", 'observed')
    .argument('[paths...]', 'only these paths')
    .description('make a recorded state the accepted baseline (approved), recorded with who accepted it')
    .addHelpText(
      'after',
      '\nExamples:\n  trail accept                     accept everything recorded so far\n  trail accept observed nginx/     accept only what changed under nginx/',
    )
    .action(async (rev: string, paths: string[], _o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const rel = paths.map((p) => watchedPath(repo.info.dir, p));
      // Resolved under the lock, after asWriter finished any interrupted revert: `observed`
      // before that is the state the revert was undoing.
      const res = await asWriter(repo, out, 'accept', async () =>
        accept(repo, await repo.resolve(rev), rel, invokingActor()),
      );
      if (!res.commit) out.line('nothing to accept: approved already matches');
      else {
        out.line(`accepted ${plural(res.changes.length, 'change')}; approved is now ${res.commit.slice(0, 12)}`);
        printChanges(out, res.changes, 50);
      }
      out.result({ commit: res.commit ?? null, changes: changesJson(res.changes) });
    });
}
