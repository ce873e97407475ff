import type { Command } from 'commander';
import { date, seconds } from './args.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import type { CommitChange } from '../report/data.js';
import { TrailError, Exit } from '../util/errors.js';
import { readLog, type LogEntry } from '../record/commit/history.js';
import { globals, openTrail } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_data = () => import('../report/data.js');

/** One line of `trail events`: its field names are an interface (SIEMs parse them). */
export interface TrailEvent extends CommitChange {
  type: 'commit';
  name: string;
  dir: string;
}

async function eventsOf(repo: Repo, entries: LogEntry[]): Promise<TrailEvent[]> {
  const data = await lazy_data();
  return (await data.commitsWithChanges(repo, entries)).map(({ entry, changes }) => ({
    type: 'commit',
    name: repo.info.name,
    dir: repo.info.dir,
    ...data.commitChange(entry, changes),
  }));
}

function emit(events: TrailEvent[]): Promise<void> {
  if (!events.length) return Promise.resolve();
  const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  // Wait for the pipe to drain: a slow SIEM forwarder must slow us down, not grow memory.
  return new Promise((res) => (process.stdout.write(text) ? res() : process.stdout.once('drain', () => res())));
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('the trail as NDJSON, one JSON object per commit, oldest first (for a SIEM)')
    .option('--since <date>', 'commits after this date', date)
    .option('-f, --follow', 'keep running and print new commits as they are recorded')
    .option('--interval <seconds>', 'with --follow: how often to look for new commits', seconds, 2)
    .addHelpText(
      'after',
      '\nEach line: {"type":"commit","name","dir","commit","time","actor","email","action","process","subject","paths":[{"path","change","details"}],"trailers"}.\n' +
        'Paths are shown like everywhere else (bytes that are not printable UTF-8 as \\xNN).\n\n' +
        'Examples:\n  trail events --since "1 hour ago"\n  trail events --follow | logger -t trail\n  trail events --follow --interval 10 >> /var/log/trail.ndjson',
    )
    .action(async (opts: { since?: string; follow?: boolean; interval: number }, cmd: Command) => {
      const g = globals(cmd);
      if (!(opts.interval > 0)) throw new TrailError(`--interval must be a number of seconds above 0`, Exit.usage);
      const repo = await openTrail(g);
      let last = await repo.readRef(Refs.observed);
      if (last) await emit(await eventsOf(repo, await readLog(repo, Refs.observed, { since: opts.since })));
      if (!opts.follow) {
        repo.close();
        return;
      }
      let stop = false;
      let wake = () => {};
      // A signal ends the stream between two commits, never in the middle of a line.
      const onSignal = () => {
        stop = true;
        wake();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // Polling the ref, not inotify on the repository: it works the same for every writer
      // (CLI, daemon, a push into the shadow repository) and costs one rev-parse per interval.
      while (!stop) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, opts.interval * 1000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        if (stop) break;
        const head = await repo.readRef(Refs.observed);
        if (!head || head === last) continue;
        const entries = await readLog(repo, last ? `${last}..${head}` : head);
        await emit(await eventsOf(repo, entries));
        last = head;
      }
      repo.close();
    });
}
