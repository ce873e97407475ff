import type { Command } from 'commander';
import { Exit } from '../util/errors.js';
import { reviewContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_push = () => import('../act/review/push.js');

export function registerPush(program: Command): void {
  program
    .command('push')
    .description(
      'push the published branches (observed, approved, logs, access, proofs, checkpoints) to the review remote now, never forced; secrets never leave the host',
    )
    .addHelpText('after', '\nExamples:\n  sudo trail push\n  sudo GITHUB_TOKEN=… trail push --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo, remote, token } = await reviewContext(cmd);
      // Reads only (besides the pushed marks): git push takes what the refs point at, and a
      // concurrent commit is simply pushed next time. The same round as trail watch's.
      const o = await (await lazy_push()).publishNow(repo, remote, token);
      for (const r of o.refs) out.line(`${r.ok ? '' : 'not pushed: '}${r.remote}: ${r.status}`);
      for (const w of o.waiting) out.warn(w.message);
      for (const a of o.alarms) out.warn(`ALARM: ${a.message}`);
      out.result({
        refs: o.refs.map(({ ref, remote, ok, status }) => ({ ref, remote, ok, status })),
        alarms: o.alarms,
        waiting: o.waiting,
      });
      if (o.refs.some((r) => !r.ok)) process.exitCode = Exit.error;
    });
}
