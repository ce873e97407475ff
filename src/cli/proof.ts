import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TrailError, Exit } from '../util/errors.js';
import { trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_anchor = () => import('../anchor/index.js');

export function registerProof(program: Command): void {
  program
    .command('proof')
    .argument('<rev>', 'the commit whose proof to export')
    .option('-o, --output <file>', 'write the .ots here (default: standard output, unless it is a terminal)')
    .description("export a commit's OpenTimestamps proof (.ots), checkable without trail")
    .addHelpText(
      'after',
      '\nThe proof stamps the commit id itself (SHA-1 file hash):\n  ots verify -d <commit id> FILE.ots\n\nExamples:\n  trail proof observed -o last.ots\n  trail proof 1a2b3c4d --json',
    )
    .action(async (rev: string, opts: { output?: string }, cmd: Command) => {
      const { g, out, repo } = await trailContext(cmd);
      let p;
      try {
        p = await (await lazy_anchor()).exportProof(repo.gitDir, rev);
      } catch (err) {
        // An unknown revision keeps its own code (2); a missing proof is an error (1).
        if (err instanceof TrailError) throw err;
        throw new TrailError((err as Error).message, Exit.error);
      }
      if (opts.output) {
        await writeFile(opts.output, p.ots);
        out.line(
          `proof of ${p.commit} written to ${opts.output}; check it with: ots verify -d ${p.commit} ${opts.output}`,
        );
      } else if (!g.json) {
        if (process.stdout.isTTY)
          throw new TrailError(
            'the proof is binary: name a file with -o FILE, or redirect standard output',
            Exit.usage,
          );
        process.stdout.write(p.ots);
      }
      out.result({ commit: p.commit, ots: p.ots.toString('base64'), ...(opts.output ? { file: opts.output } : {}) });
    });
}
