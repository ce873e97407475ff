import type { Command } from 'commander';
import { Exit } from '../util/errors.js';
import { reviewContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_push = () => import('../act/review/push.js');

export function registerPush(program: Command): void {
  program
    .command('push')
    .description('push the trail (observed, approved, proofs) to the review remote now; secrets never leave the host')
    .addHelpText('after', '\nExamples:\n  sudo trail push\n  sudo GITHUB_TOKEN=… trail push --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo, remote, token } = await reviewContext(cmd);
      // Reads only: git push takes what the refs point at, and a concurrent commit is simply
      // pushed next time.
      const results = await (await lazy_push()).pushTrail(repo, remote, token);
      for (const r of results) out.line(`${r.ok ? '' : 'not pushed: '}${r.remote}: ${r.status}`);
      const rejected = results.filter((r) => !r.ok);
      if (rejected.length)
        out.warn('GitHub holds changes to approved that this host has not applied yet: run trail review sync');
      out.result({ refs: results });
      if (rejected.length) process.exitCode = Exit.error;
    });
}
