import { TrailError, Exit } from '../util/errors.js';
import { ExecError } from '../util/exec.js';

/** How a command talks: human lines on a TTY or pipe, or one JSON document with --json. */
export interface Out {
  json: boolean;
  /** Human output (suppressed with --json). */
  line(text?: string): void;
  /** The command's result: printed as JSON with --json; humans got their lines already. */
  result(data: unknown): void;
  warn(text: string): void;
  progress(label: string): ((done: number, total: number) => void) | undefined;
  color: Colors;
}

export interface Colors {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

function colors(enabled: boolean): Colors {
  const wrap = (code: number, reset: number) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[${reset}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39) };
}

export function makeOut(json: boolean): Out {
  const tty = !!process.stdout.isTTY;
  const useColor = tty && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    ...writingTo(
      json,
      (s) => process.stdout.write(s),
      (s) => process.stderr.write(s),
    ),
    color: colors(useColor),
    progress: (label) => {
      // Progress bars only where a person watches: a TTY on stderr, never in pipes or JSON.
      if (!process.stderr.isTTY || json) return undefined;
      let last = 0;
      return (done, total) => {
        const now = Date.now();
        if (done < total && now - last < 100) return;
        last = now;
        const width = 30;
        const frac = total ? done / total : 1;
        const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
        process.stderr.write(`\r${label} ${bar} ${done}/${total}`);
        if (done >= total) process.stderr.write('\r\x1b[K');
      };
    },
  };
}

/** What a command prints, to any two writers: the process's, or a buffer's. */
function writingTo(
  json: boolean,
  stdout: (s: string) => void,
  stderr: (s: string) => void,
): Pick<Out, 'json' | 'line' | 'result' | 'warn'> {
  return {
    json,
    line: (text = '') => {
      if (!json) stdout(text + '\n');
    },
    result: (data) => {
      if (json) stdout(JSON.stringify(data, null, 2) + '\n');
    },
    warn: (text) => stderr(`trail: ${text}\n`),
  };
}

/** An Out that keeps what it is given, in order, for output rendered in one process and
 * printed by another (the daemon for the native front, src/cli/front-answers.ts): the order
 * of stdout and stderr is kept, as a terminal showing both would show them. No progress. */
export function bufferedOut(json: boolean, color: boolean): Out & { written(): [1 | 2, string][] } {
  const chunks: [1 | 2, string][] = [];
  const add = (fd: 1 | 2, s: string) => {
    const last = chunks[chunks.length - 1];
    if (last?.[0] === fd) last[1] += s;
    else chunks.push([fd, s]);
  };
  return {
    ...writingTo(
      json,
      (s) => add(1, s),
      (s) => add(2, s),
    ),
    color: colors(color),
    progress: () => undefined,
    written: () => chunks,
  };
}

/** Prints an error calmly, one line and a hint, and returns the exit code; the stack trace
 * only with --debug (a person needs what to do; a bug report needs where it happened). */
export function reportError(err: unknown, json: boolean, debug = false): number {
  let message: string;
  let code: number = Exit.error;
  let hint: string | undefined;
  if (err instanceof TrailError) {
    message = err.message;
    code = err.exitCode;
    hint = err.hint;
  } else if (err instanceof ExecError) {
    message = err.message;
  } else if (
    err instanceof Error &&
    'code' in err &&
    typeof (err as { code: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('commander.')
  ) {
    return Exit.usage;
  } else if (
    err instanceof Error &&
    'code' in err &&
    ['ENOSPC', 'EDQUOT'].includes(String((err as { code: unknown }).code))
  ) {
    message = `no space left for the shadow repository (${err.message}); nothing was recorded, the trail is unchanged`;
  } else if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code) === 'EACCES') {
    message = `${err.message}`;
    hint = 'this needs more rights; run as root for system directories';
  } else {
    // An error trail did not expect: still one line, but say how to learn more.
    message = err instanceof Error ? err.message.split('\n')[0] || err.name : String(err);
    hint ??= debug ? undefined : 'run again with --debug for the stack trace, and report it if it looks like a bug';
  }
  process.stderr.write(`trail: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  if (json) process.stdout.write(JSON.stringify({ error: { message, code, hint } }, null, 2) + '\n');
  return code;
}

export function plural(n: number, word: string, many = word + 's'): string {
  return `${n} ${n === 1 ? word : many}`;
}

export function bytesHuman(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function relativeTime(date: Date, now = new Date()): string {
  const s = Math.round((now.getTime() - date.getTime()) / 1000);
  const abs = Math.abs(s);
  const fmt =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.round(abs / 60)}m`
        : abs < 86400
          ? `${Math.round(abs / 3600)}h`
          : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `${fmt} ago` : `in ${fmt}`;
}
