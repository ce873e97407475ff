import type { Command } from 'commander';
import { listWatched } from '../host/registry.js';
import { Refs, Repo } from '../record/repo/repo.js';
import { commandContext } from './session.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('show the watched directories of this host')
    .addHelpText('after', '\nExample:\n  trail list --json')
    .action(async (_opts: unknown, cmd: Command) => {
      const { out } = commandContext(cmd);
      const rows = [];
      for (const w of await listWatched()) {
        let head: string | undefined;
        let problem: string | undefined;
        try {
          const repo = await Repo.open(w.repo);
          head = await repo.readRef(Refs.observed);
        } catch (err) {
          problem = (err as Error).message;
        }
        rows.push({ ...w, head, problem });
      }
      if (!rows.length) out.line('no directory is watched yet; start with: trail init /etc');
      const width = Math.max(4, ...rows.map((r) => r.name.length));
      for (const r of rows) {
        out.line(
          `${r.name.padEnd(width)}  ${r.dir}  →  ${r.repo}${r.problem ? out.color.red(`  (${r.problem})`) : ''}`,
        );
      }
      out.result({ trails: rows });
    });
}
