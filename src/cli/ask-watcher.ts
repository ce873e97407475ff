import { createConnection } from 'node:net';
import { TRAIL_VERSION } from '../util/version.js';
import {
  socketPathFits,
  watcherSocketPath,
  WATCHER_PROTOCOL,
  type WatcherAck,
  type WatcherAnswer,
  type WatcherRequest,
} from '../host/watcher-socket.js';

/** How long the daemon has to say it will answer; a daemon stuck longer is taken as gone and
 * the command does the work itself. TRAIL_WATCHER_TIMEOUT_MS overrides (a loaded test host). */
const ACK_MS = 1000;
/** How long an accepted question may take: it waits for the commit in progress, or a
 * reconcile, to finish. */
const ANSWER_MS = 120_000;

export interface Asked<T> {
  answer: T;
  /** The daemon that answered. */
  pid: number;
}

/**
 * Asks the `trail watch` running for watched directory `name` (src/watch/query-server.ts).
 * Resolves undefined — never throws — when there is no daemon, the socket is stale, the
 * daemon is slow to take the question, of another version, declines (it cannot vouch for its
 * events: no inotify source, watch limit), or answers garbage: the caller then does the work
 * itself, exactly as without a daemon. TRAIL_NO_WATCHER=1: never ask.
 */
export function askWatcher<T>(
  name: string,
  req: Pick<WatcherRequest, 'op' | 'message' | 'actor' | 'onlyAttributed'>,
): Promise<Asked<T> | undefined> {
  if (process.env.TRAIL_NO_WATCHER === '1') return Promise.resolve(undefined);
  const path = watcherSocketPath(name);
  if (!socketPathFits(path)) return Promise.resolve(undefined);
  const ackMs = Number(process.env.TRAIL_WATCHER_TIMEOUT_MS) || ACK_MS;
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let buf = '';
    let ack: WatcherAck | undefined;
    let done = false;
    const finish = (v: Asked<T> | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    let timer = setTimeout(() => finish(undefined), ackMs);
    sock.on('error', () => finish(undefined));
    sock.on('close', () => finish(undefined));
    sock.on('connect', () => {
      const full: WatcherRequest = { trail: WATCHER_PROTOCOL, version: TRAIL_VERSION, ...req };
      sock.write(JSON.stringify(full) + '\n');
    });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while (!done && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return finish(undefined);
        }
        if (!ack) {
          const a = msg as WatcherAck;
          if (!a || a.trail !== WATCHER_PROTOCOL || a.version !== TRAIL_VERSION || a.accepted !== true)
            return finish(undefined);
          ack = a;
          clearTimeout(timer);
          timer = setTimeout(() => finish(undefined), ANSWER_MS);
          continue;
        }
        const ans = msg as WatcherAnswer<T>;
        finish(ans && ans.ok === true && ans.answer ? { answer: ans.answer, pid: ack.pid } : undefined);
      }
    });
  });
}
