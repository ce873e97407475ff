import { run } from '../util/exec.js';

export type Level = 'debug' | 'info' | 'notice' | 'warning' | 'error';

// syslog priorities, which journald also reads from a "<n>" prefix on stderr lines.
const PRIORITY: Record<Level, number> = { debug: 7, info: 6, notice: 5, warning: 4, error: 3 };

/**
 * One line per event. Humans (and journald, which takes a service's stderr) get text on
 * stderr; `--json` gives NDJSON on stdout. Start, stop and faults also go to syslog through
 * logger(1) when journald is not already collecting stderr, so that a gap in watching is
 * visible to whoever reads the system log.
 */
export class Log {
  private readonly journald = !!process.env.JOURNAL_STREAM;

  constructor(private readonly json: boolean, private readonly verbose = false) {}

  write(level: Level, event: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (level === 'debug' && !this.verbose) return;
    if (this.json) {
      process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, event, msg, ...fields }) + '\n');
    } else {
      const prefix = this.journald ? `<${PRIORITY[level]}>` : '';
      process.stderr.write(`${prefix}trail watch: ${msg}\n`);
    }
    if ((level === 'notice' || level === 'error') && !this.journald) this.syslog(level, msg);
  }

  private syslog(level: Level, msg: string): void {
    // No syslog daemon (a container) is not an error worth reporting: stderr has the line.
    run('logger', ['-t', 'trail', '-p', `daemon.${level === 'error' ? 'err' : level}`, '--', msg]).catch(() => {});
  }
}
