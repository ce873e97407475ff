import { Option, type Command } from 'commander';
import { asWriter, commandContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_daemon = () => import('../watch/daemon.js');
const lazy_log = () => import('../watch/log.js');
const lazy_front = () => import('./front-answers.js');

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .argument('[names...]', 'watched directories to watch (default: all of this host)')
    .addOption(
      new Option('--source <kind>', 'event source (default: watch.source, auto = inotify on Linux)').choices([
        'auto',
        'inotify',
        'chokidar',
      ]),
    )
    .option('-v, --verbose', 'also log event batches that turned out to change nothing')
    .description('record every change as it happens (runs in the foreground; the systemd unit runs it)')
    .addHelpText(
      'after',
      `
Each change becomes part of a commit once the directory has been quiet for watch.quietMs,
and never later than watch.maxDelayMs after it was first seen. At start, what changed while
no watcher ran is recorded as its own commit; every watch.reconcileSeconds the whole
directory is compared with the trail to catch anything events missed.

Signals: SIGTERM/SIGINT record what is pending and exit 0; SIGHUP reloads the settings;
SIGCONT (after SIGSTOP) writes a checkpoint naming the pause as unwatched.
trail config set|unset and trail policy set tell a running trail watch to reload by themselves.
Logs: one line per event on stderr (journald-friendly); --json gives NDJSON on stdout.

Examples:
  trail watch
  trail watch etc --json
  trail config set watch.quietMs 500      # the running trail watch reloads`,
    )
    .action(
      async (names: string[], opts: { source?: 'auto' | 'inotify' | 'chokidar'; verbose?: boolean }, cmd: Command) => {
        const { g, out } = commandContext(cmd);
        const log = new (await lazy_log()).Log(g.json, !!opts.verbose);
        const daemon = new (await lazy_daemon()).Daemon({
          names: names.length ? names : g.name ? [g.name] : [],
          source: opts.source,
          log,
          withLock: (repo, purpose, fn) => asWriter(repo, out, purpose, fn),
          render: (await lazy_front()).renderForFront,
        });

        // Handlers go in before the start-up reconcile: a SIGTERM during it must still end in a
        // clean stop, not a kill in the middle of a commit.
        let stopping: string | undefined;
        let wake: () => void = () => {};
        const stopped = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const onStop = (sig: string) => {
          if (stopping) {
            log.write('warning', 'signal', `${sig} again while stopping: still recording what is pending`);
            return;
          }
          stopping = sig;
          wake();
        };
        const onTerm = () => onStop('SIGTERM');
        const onInt = () => onStop('SIGINT');
        let reloading = Promise.resolve();
        const onHup = () => {
          log.write('info', 'signal', 'SIGHUP: reloading the settings');
          reloading = reloading
            .then(() => daemon.reload())
            .catch((err: Error) => log.write('error', 'reload-failed', `reload failed: ${err.message}`));
        };
        // A pause (SIGSTOP) cannot be caught, but its end can: SIGCONT. How long it was is told
        // by a tick that could not run meanwhile (monotonic clock). systemd sends SIGCONT right
        // after the SIGTERM of every stop, to a process that was never paused: a SIGCONT while
        // stopping, or one within two ticks of the last, is no pause. (An edit made and undone
        // faster than that is coalesced by the quiet window of a running daemon anyway.)
        // After a pause the overdue tick runs before the signal's callback (libuv: timers, then
        // poll), so the tick keeps the gap it saw, for the SIGCONT that follows at once.
        let tick = performance.now();
        let gap = { ms: 0, at: 0 };
        const ticker = setInterval(() => {
          const now = performance.now();
          if (now - tick > 2000) gap = { ms: now - tick, at: now };
          tick = now;
        }, 1000).unref();
        const onCont = () => {
          const now = performance.now();
          const ms = Math.max(now - tick, now - gap.at < 1000 ? gap.ms : 0);
          gap = { ms: 0, at: 0 };
          if (stopping || ms < 2000) {
            log.write('debug', 'signal', `SIGCONT without a pause (${Math.round(ms)} ms since the last tick)`);
            return;
          }
          log.write('info', 'signal', 'SIGCONT: this process was stopped and goes on');
          reloading = reloading
            .then(() => daemon.resumed(ms))
            .catch((err: Error) => log.write('error', 'resume-failed', `after a pause: ${err.message}`));
        };
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
        process.on('SIGHUP', onHup);
        process.on('SIGCONT', onCont);
        try {
          await daemon.start();
          await stopped;
          await reloading;
          await daemon.stop(stopping ?? 'stopped');
        } finally {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          process.off('SIGHUP', onHup);
          process.off('SIGCONT', onCont);
          clearInterval(ticker);
        }
      },
    );
}
