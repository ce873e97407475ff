import { join } from 'node:path';
import { trailHome } from './registry.js';

/**
 * Where `trail watch` answers questions about a watched directory (status, diff, snapshot):
 * one unix socket per watched name. As root (the service) under /run/trail, a tmpfs that a
 * reboot empties, so no socket outlives its daemon by more than a crash; otherwise, and
 * whenever TRAIL_HOME is set (tests, other layouts), under trail's own state dir. The folder
 * is 0700 and the socket 0600: Node cannot read a peer's credentials (SO_PEERCRED), so the
 * folder's owner-only mode is what keeps other users out.
 */
export function watcherSocketDir(): string {
  if (!process.env.TRAIL_HOME && process.getuid?.() === 0) return '/run/trail';
  return join(trailHome(), 'run');
}

export function watcherSocketPath(name: string): string {
  return join(watcherSocketDir(), `${name}.sock`);
}

/** A unix socket's path must fit in sockaddr_un (108 bytes with its NUL): a longer one is
 * not served, and the client does not ask. */
export function socketPathFits(path: string): boolean {
  return Buffer.byteLength(path) < 108;
}

/** The protocol's version: a request or answer with another is not understood (see README,
 * "Watching"). The trail version must match too: a daemon left running across an upgrade
 * answers nothing, and the command does the work itself. */
export const WATCHER_PROTOCOL = 1;

/** What a command asks, one JSON line. */
export interface WatcherRequest {
  trail: number;
  version: string;
  /** reload: the settings or the policy changed (trail config, trail policy): read them
   * again, as SIGHUP does for this directory. */
  op: 'status' | 'diff' | 'snapshot' | 'reload';
  /** snapshot: the commit's subject and who asked (the author where no audit names one; with
   * audit, `Trail-Snapshot-By`, beside the authors audit names). */
  message?: string;
  actor?: { name: string; email?: string };
  /** snapshot: only if audit names who made the changes (else declined, and the asker records
   * them itself): `trail revert` asks so for the changes it finds before reverting. */
  onlyAttributed?: boolean;
  /** Asked by the native front (src/cli/front): the daemon renders the command's output, as
   * the Node.js command would print it, and answers with those bytes (README, "Watching"). */
  render?: RenderRequest;
}

/** What the front tells about its terminal and command line, for status and snapshot. */
export interface RenderRequest {
  json: boolean;
  /** Whether the output is coloured (stdout a TTY, no NO_COLOR, TERM not dumb). */
  color: boolean;
  /** The command's working folder and --name: the daemon answers only if they pick its own
   * watched directory, as pickWatched would for the command. */
  cwd: string;
  name?: string;
}

/** A command's output rendered by the daemon: what it writes, in order, to stdout (1) and
 * stderr (2), and the code it exits with. */
export interface Rendered {
  written: [1 | 2, string][];
  exit: number;
}

/** The front's answer after the acknowledgement: a header line, then `bytes` bytes of
 * records, each `FD LENGTH\n` and LENGTH bytes to write to FD (README, "Watching"). */
export function renderedReply(r: Rendered): Buffer {
  const body = Buffer.concat(
    r.written.flatMap(([fd, text]) => {
      const b = Buffer.from(text);
      return [Buffer.from(`${fd} ${b.length}\n`), b];
    }),
  );
  const head = JSON.stringify({ ok: true, exit: r.exit, bytes: body.length }) + '\n';
  return Buffer.concat([Buffer.from(head), body]);
}

/** Renders an answer as the command would print it; given to the daemon by the CLI layer
 * (src/cli/front-answers.ts), so that the watch layer does not import the commands. */
export type AnswerRenderer = (op: 'status' | 'snapshot', answer: unknown, how: RenderRequest, pid: number) => Rendered;

/** The daemon's first line, sent as soon as the request is read: whether it will answer. A
 * daemon that does not send it quickly is taken as gone. */
export interface WatcherAck {
  trail: number;
  version: string;
  pid: number;
  accepted: boolean;
  why?: string;
}

/** The second line: the answer, or why there is none (then the command does the work). */
export type WatcherAnswer<T> = { ok: true; answer: T } | { ok: false; why: string };
