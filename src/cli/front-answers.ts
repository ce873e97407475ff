import type { AnswerRenderer } from '../host/watcher-socket.js';
import type { SnapshotAnswer } from '../watch/query-server.js';
import type { StatusReport } from '../watch/status-report.js';
import { bufferedOut } from './output.js';
import { printSnapshot } from './snapshot.js';
import { printStatus } from './status.js';

/**
 * What `trail status` and `trail snapshot` would print for an answer of the daemon, rendered
 * in the daemon for the native front (src/cli/front): the front prints these bytes and exits
 * with the code, and never starts Node.js. Given to `trail watch` from here, so that the
 * watch layer does not import the commands; the commands print with the same functions.
 */
export const renderForFront: AnswerRenderer = (op, answer, how, pid) => {
  const out = bufferedOut(how.json, how.color);
  const exit =
    op === 'status'
      ? printStatus(out, answer as StatusReport, { full: false }, { watcher: pid })
      : (printSnapshot(out, answer as SnapshotAnswer, { watcher: pid }), 0);
  return { written: out.written(), exit };
};
