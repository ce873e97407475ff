import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pickWatched, withRegistry } from '../host/registry.js';
import { Repo } from '../record/repo/repo.js';
import { defaultRepoPath } from '../record/init.js';
import { commandContext } from './session.js';

export function registerForget(program: Command): void {
  program
    .command('forget')
    .argument('<name>', 'the watched directory to stop tracking')
    .option('--delete-repo', 'also delete its shadow repository (the whole trail: this cannot be undone)')
    .description('stop tracking a watched directory (its trail is kept unless --delete-repo)')
    .addHelpText('after', '\nExamples:\n  trail forget app\n  trail forget app --delete-repo')
    .action(async (name: string, opts: { deleteRepo?: boolean }, cmd: Command) => {
      const { out } = commandContext(cmd);
      const w = await pickWatched(name);
      if (opts.deleteRepo) {
        // Only delete what is recognisably a trail repository.
        const repo = await Repo.open(w.repo);
        await repo.lock.acquire(30_000, 'forget');
        await fsp.rm(w.repo, { recursive: true, force: true });
      }
      await withRegistry(async (reg) => reg.save((await reg.list()).filter((t) => t.name !== w.name)));
      out.line(
        `${w.name} (${w.dir}) is no longer tracked; ${opts.deleteRepo ? 'its shadow repository was deleted' : `its trail stays in ${w.repo}`}`,
      );
      // Where a kept trail is taken up again (init goes on with it, see record/init.ts).
      if (!opts.deleteRepo)
        out.line(
          `  to go on with it: trail --name ${w.name} init ${w.dir}${w.repo === resolve(defaultRepoPath(w.name)) ? '' : ` --repo ${w.repo}`}`,
        );
      out.result({ forgotten: w, repoDeleted: !!opts.deleteRepo });
    });
}
