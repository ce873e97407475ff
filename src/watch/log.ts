import { spawn, type ChildProcess } from 'node:child_process';

export type Level = 'debug' | 'info' | 'notice' | 'warning' | 'error';

// syslog priorities, which journald also reads from a "<n>" prefix on stderr lines.
const PRIORITY: Record<Level, number> = { debug: 7, info: 6, notice: 5, warning: 4, error: 3 };
/** syslog's daemon facility. */
const DAEMON = 3;

/**
 * One line per event. Humans (and journald, which takes a service's stderr) get text on
 * stderr; `--json` gives NDJSON on stdout. Start, stop and faults also go to syslog through
 * logger(1) when journald is not already collecting stderr, so that a gap in watching is
 * visible to whoever reads the system log.
 */
export class Log {
  private readonly journald = !!process.env.JOURNAL_STREAM;
  private logger: ChildProcess | undefined;

  constructor(
    private readonly json: boolean,
    private readonly verbose = false,
  ) {}

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

  /**
   * One logger(1) for the daemon's life, reading a line per message with its priority as a
   * "<n>" prefix: a process per commit cost the daemon a fork of itself each time (several ms
   * at 50k files, on the event loop). No syslog daemon (a container) is not an error worth
   * reporting: stderr has the line.
   */
  private syslog(level: Level, msg: string): void {
    if (!this.logger) {
      const child = spawn('logger', ['--prio-prefix', '-t', 'trail'], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => undefined);
      child.stdin.on('error', () => undefined);
      child.on('exit', () => {
        if (this.logger === child) this.logger = undefined;
      });
      // Never what keeps the daemon running; at its exit the pipe closes and logger ends.
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      this.logger = child;
    }
    const pri = DAEMON * 8 + PRIORITY[level];
    this.logger.stdin!.write(`<${pri}>${msg.replace(/[\r\n]+/g, ' ')}\n`);
  }
}
