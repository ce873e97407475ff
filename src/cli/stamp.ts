import type { Command } from 'commander';
import { readConfig } from '../record/repo/settings.js';
import { plural } from './output.js';
import { trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_anchor = () => import('../anchor/index.js');

export function registerStamp(program: Command): void {
  program
    .command('stamp')
    .description('stamp every commit that has no proof yet, now (one request per calendar for all of them)')
    .addHelpText(
      'after',
      '\nCommits that no calendar accepts stay queued and are retried with backoff; exit 10 says so.\n\nExamples:\n  trail stamp\n  trail stamp --json',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const opts = (await lazy_anchor()).anchorOptionsFromConfig(await readConfig(repo));
      const r = await (await lazy_anchor()).stampBatch(repo.gitDir, { ...opts, force: true });
      if (r.outcome === 'nothing-to-stamp') out.line('every commit already has a proof');
      else if (r.outcome === 'stamped')
        out.line(
          `${out.color.green('stamped')} ${plural(r.stamped.length, 'commit')} with ${r.calendars
            .filter((c) => c.ok)
            .map((c) => c.url)
            .join(', ')}`,
        );
      else
        out.line(
          `${out.color.yellow('queued')}: ${plural(r.queued, 'commit')} wait for a stamp (${r.calendars.filter((c) => c.ok).length} of ${opts.minCalendars} required calendars answered); retried with backoff`,
        );
      for (const c of r.calendars) if (!c.ok) out.warn(`calendar ${c.url}: ${c.error}`);
      out.result(r);
      if (r.queued > 0) process.exitCode = (await lazy_anchor()).VERIFY_EXIT.pending;
    });
}
