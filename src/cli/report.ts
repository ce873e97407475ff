import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { date } from './args.js';
import { Option } from 'commander';
import { plural } from './output.js';
import { openTrail, commandContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_data = () => import('../report/data.js');
const lazy_html = () => import('../report/html.js');
const lazy_markdown = () => import('../report/markdown.js');

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'a report for people who decide: changes, who, not allowed by policy, drift, anchoring (one HTML file, or Markdown)',
    )
    .option('--since <date>', 'changes after this date ("2 weeks ago", 2024-05-01)', date)
    .option('--until <date>', 'changes before this date', date)
    .option('-o, --output <file>', 'write the report to this file')
    .addOption(
      new Option('--format <format>', 'html: one self-contained page; md: a summary for tickets')
        .choices(['html', 'md'])
        .default('html'),
    )
    .addHelpText(
      'after',
      '\nThe HTML file loads nothing from the network and opens in any browser, on a phone too.\n' +
        'Without -o, Markdown goes to stdout; HTML goes to stdout in a pipe, else to ./trail-report-NAME.html.\n' +
        "With --json, the report's data (the same numbers) is printed instead.\n\n" +
        'Examples:\n  trail report -o /tmp/etc-report.html\n  trail report --since "7 days ago" --format md\n  trail report --since 2024-05-01 --until 2024-06-01 --json',
    )
    .action(async (opts: { since?: string; until?: string; output?: string; format: 'html' | 'md' }, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const repo = await openTrail(g);
      const data = await (await lazy_data()).gatherReport(repo, { since: opts.since, until: opts.until });
      repo.close();
      const text =
        opts.format === 'md' ? (await lazy_markdown()).renderMarkdown(data) : (await lazy_html()).renderHtml(data);
      let file = opts.output;
      if (!file && !g.json && opts.format === 'html' && process.stdout.isTTY)
        file = `trail-report-${data.name.replace(/[^A-Za-z0-9._-]/g, '_')}.html`;
      if (file) {
        // The trail is readable by root only; a report of it is shared on purpose, not by umask.
        await fsp.writeFile(file, text, { mode: 0o600 });
        out.line(
          `${plural(data.headline.changes, 'change')} by ${plural(data.headline.people, 'person', 'people')}, ${data.headline.notAllowed} not allowed by policy → ${resolve(file)}`,
        );
      } else if (!g.json) {
        process.stdout.write(text);
      }
      out.result(data);
    });
}
