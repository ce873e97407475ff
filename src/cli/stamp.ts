import type { Command } from 'commander';
import { readConfig } from '../record/config.js';
import { stampBatch, anchorOptionsFromConfig, VERIFY_EXIT } from '../anchor/index.js';
import { makeOut, plural } from './output.js';
import { globals, openTrail } from './session.js';

export function registerStamp(program: Command): void {
  program
    .command('stamp')
    .description('stamp every commit that has no proof yet, now (one request per calendar for all of them)')
    .addHelpText(
      'after',
      '\nCommits that no calendar accepts stay queued and are retried with backoff; exit 10 says so.\n\nExamples:\n  trail stamp\n  trail stamp --json',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const repo = await openTrail(g);
      const opts = anchorOptionsFromConfig(await readConfig(repo));
      const r = await stampBatch(repo.gitDir, { ...opts, force: true });
      if (r.outcome === 'nothing-to-stamp') out.line('every commit already has a proof');
      else if (r.outcome === 'stamped') out.line(`${out.color.green('stamped')} ${plural(r.stamped.length, 'commit')} with ${r.calendars.filter((c) => c.ok).map((c) => c.url).join(', ')}`);
      else out.line(`${out.color.yellow('queued')}: ${plural(r.queued, 'commit')} wait for a stamp (${r.calendars.filter((c) => c.ok).length} of ${opts.minCalendars} required calendars answered); retried with backoff`);
      for (const c of r.calendars) if (!c.ok) out.warn(`calendar ${c.url}: ${c.error}`);
      out.result(r);
      if (r.queued > 0) process.exitCode = VERIFY_EXIT.pending;
    });
}
