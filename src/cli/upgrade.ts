import type { Command } from 'commander';
import { readConfig } from '../record/repo/settings.js';
import { plural } from './output.js';
import { trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_anchor = () => import('../anchor/index.js');

export function registerUpgrade(program: Command): void {
  program
    .command('upgrade')
    .description('fetch Bitcoin attestations for pending proofs from the calendars')
    .addHelpText(
      'after',
      '\nA calendar confirms a few hours after stamping; until then nothing changes.\n\nExamples:\n  trail upgrade\n  trail upgrade --json',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const opts = (await lazy_anchor()).anchorOptionsFromConfig(await readConfig(repo));
      const r = await (await lazy_anchor()).upgrade(repo.gitDir, opts);
      out.line(
        `${plural(r.upgraded.length, 'proof')} upgraded to Bitcoin, ${r.pending.length} still pending, ${r.complete} already complete`,
      );
      for (const p of r.problems) out.warn(`calendar ${p.calendar}: ${p.reason}`);
      if (r.unreadable.length) out.warn(`${plural(r.unreadable.length, 'proof')} do not parse (see trail verify)`);
      out.result(r);
    });
}
