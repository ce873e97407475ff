import { Option, type Command } from 'commander';
import { Exit, TrailError } from '../util/errors.js';
import { makeOut } from './output.js';
import { asWriter, globals, openTrail } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_writer = () => import('../record/checkpoint/checkpoint-writer.js');
const lazy_audit = () => import('../attribute/audit-state.js');

export function registerCheckpoint(program: Command): void {
  program
    .command('checkpoint')
    .argument('[name]', 'the watched directory (same as --name)')
    .addOption(
      new Option('--reason <reason>', 'why: start, heartbeat, stop (trail watch writes its own)')
        .choices(['start', 'heartbeat', 'stop'])
        .default('heartbeat'),
    )
    .option('--interval <seconds>', 'the cadence this command runs at (e.g. from cron), for the record')
    .description('write a signed checkpoint now (for hosts without trail watch: run it from cron)')
    .addHelpText(
      'after',
      '\nThe checkpoint names the heads of every published branch, the boot id and the audit state;\nits sequence number never goes back (README "Formats").\n\nExamples:\n  sudo trail checkpoint\n  sudo trail checkpoint etc --interval 300 --json',
    )
    .action(
      async (
        name: string | undefined,
        o: { reason: 'start' | 'heartbeat' | 'stop'; interval?: string },
        cmd: Command,
      ) => {
        const g = globals(cmd);
        if (name && g.name && name !== g.name)
          throw new TrailError(`two names given: ${name} and --name ${g.name}`, Exit.usage);
        const out = makeOut(g.json);
        let interval: number | null = null;
        if (o.interval !== undefined) {
          interval = Number(o.interval);
          if (!Number.isSafeInteger(interval) || interval < 1)
            throw new TrailError('--interval takes a whole number of seconds', Exit.usage);
        }
        const repo = await openTrail({ ...g, name: name ?? g.name });
        const audit = await (await lazy_audit()).auditState();
        const { readCheckpoint, writeCheckpoint } = await lazy_writer();
        const r = await asWriter(repo, out, 'checkpoint', async () => {
          // trail watch writes its own stop. One written by hand after a daemon's checkpoints
          // would turn the crash (kill -9) it follows into a clean stop: the next start would
          // then claim no unwatched window.
          const last = o.reason === 'stop' ? (await readCheckpoint(repo))?.record : undefined;
          if (last && last.daemonStart !== null && last.reason !== 'stop')
            throw new TrailError(
              `the last checkpoint (${last.seq}, ${last.reason}) is trail watch's, and trail watch writes its own stop: one written here would make a daemon that did not stop cleanly look as if it had`,
              Exit.usage,
              'stop trail watch itself (systemctl stop trail); if it died, its next start says so',
            );
          return writeCheckpoint(repo, { reason: o.reason, audit, interval });
        });
        const rec = r.record;
        out.line(`checkpoint ${rec.seq} (${rec.reason}) ${r.commit} on refs/heads/checkpoints`);
        if (rec.window)
          out.line(
            `  unwatched since ${rec.window.from}${rec.window.bootChanged ? ', the host rebooted' : ''}${rec.window.auditLostDelta ? `, ${rec.window.auditLostDelta} audit record(s) lost` : ''}`,
          );
        out.result({ commit: r.commit, record: rec });
      },
    );
}
