import type { Change } from '../record/model/diff.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { drift, driftUnder } from '../record/snapshot.js';
import { interruptedRevert } from '../act/revert-journal.js';
import { readLog } from '../record/commit/history.js';
import type { PublishStatus } from '../act/publish/publish-status.js';
import type { Backlog } from '../act/publish/backlog-counter.js';
import type { ReviewRemote } from '../act/review/remote.js';

/**
 * What `trail status` shows, as data: computed by the command itself (a whole scan), or by
 * the running watcher from the paths its events named (src/watch/query-server.ts), who sends
 * it as one JSON line. Paths are the trail's byte strings (latin1); the command escapes them
 * for display.
 */
export interface StatusReport {
  name: string;
  dir: string;
  head: string | null;
  full: boolean;
  changes: Change[];
  skipped: { path: string; reason: string }[];
  files: number;
  read: number;
  seconds: number;
  interrupted: boolean;
  attribution: Attribution;
  anchoring: { unanchored: number; oldest: string | null };
  /** The unpushed backlog and publishing alarms; null when no remote is set. */
  publish: PublishStatus | null;
  /** Webhook alerts not delivered yet (act/alert-outbox.ts). */
  alerts: { waiting: number; oldest: string | null; lastProblem: string | null };
}

export interface Attribution {
  degraded: boolean;
  reason?: string;
  commit?: string;
}

/** What status says beside the changes, read from the trail's refs and notes. */
export interface TrailAsides {
  attribution: Attribution;
  anchoring: { count: number; oldest?: number };
  /** The unpushed backlog, once asked for (it reads the refs only; a remote set wrong is
   * `trail remote`'s to report, status still answers). */
  backlog?: (remote: ReviewRemote) => Promise<Backlog>;
}

export interface StatusOptions {
  full?: boolean;
  /** The asides, when the caller knows them already (the watcher keeps them per refs). */
  asides?: Promise<TrailAsides>;
  /** Only these subtrees may differ (the watcher's pending paths); absent: the whole tree. */
  roots?: string[];
  onProgress?: (done: number, total: number) => void;
}

export async function statusReport(repo: Repo, opts: StatusOptions = {}): Promise<StatusReport> {
  const started = Date.now();
  // What only reads the trail is asked while the tree is scanned.
  const asides = Promise.all([
    interruptedRevert(repo),
    opts.asides ?? trailAsides(repo),
    // The backlog with the asides (it moves with the refs, and the asides are kept per refs);
    // the state file (alarms, last attempt) is read each time. A remote set wrong is
    // `trail remote`'s to report, status still answers.
    Promise.all([import('../act/publish/publish-status.js'), opts.asides])
      .then(([p, known]) => p.readPublishStatusOf(repo, known?.backlog ? { backlog: known.backlog } : {}))
      .catch(() => undefined),
    import('../act/alert-outbox.js').then((o) => o.outboxState(repo)),
  ]);
  asides.catch(() => {});
  const res = opts.roots
    ? await driftUnder(repo, opts.roots)
    : await drift(repo, { full: opts.full, changesOnly: true, onProgress: opts.onProgress });
  const [interrupted, { attribution, anchoring }, publish, alerts] = await asides;
  return {
    name: repo.info.name,
    dir: repo.info.dir,
    head: res.head ?? null,
    full: !!opts.full,
    changes: res.changes,
    skipped: res.scan.skipped.map((k) => ({ path: k.path, reason: k.reason })),
    files: res.scan.files,
    read: res.scan.read,
    seconds: (Date.now() - started) / 1000,
    interrupted,
    attribution,
    anchoring: {
      unanchored: anchoring.count,
      oldest: anchoring.oldest ? new Date(anchoring.oldest * 1000).toISOString() : null,
    },
    publish: publish ?? null,
    alerts,
  };
}

/** Who the watcher's last commit names, and what is not anchored yet: a few git commands. */
export async function trailAsides(repo: Repo): Promise<TrailAsides> {
  const [attribution, anchoring] = await Promise.all([
    attributionState(repo),
    import('../anchor/stamp-queue.js').then((a) => a.unanchoredCommits(repo.gitDir)),
  ]);
  let backlog: Promise<Backlog> | undefined;
  return {
    attribution,
    anchoring,
    // Counted once per asides, on first need: the remote is known only to who asks.
    backlog: (remote) => {
      if (!backlog) {
        const read = (backlog = import('../act/publish/backlog-counter.js').then((c) => c.readBacklog(repo, remote)));
        // A failure is not kept: the next question counts again.
        read.catch(() => (backlog === read ? (backlog = undefined) : undefined));
      }
      return backlog;
    },
  };
}

/** Whether the watcher's most recent commit could name its author: read from the trail
 * itself (`Trail-Attribution`, `Trail-Actor` trailers), so it needs no state of its own. */
async function attributionState(repo: Repo): Promise<Attribution> {
  const recent = await readLog(repo, Refs.observed, { max: 50 });
  const last = recent.find((e) => e.trailers['Trail-Action'] === 'watch');
  if (!last) return { degraded: false };
  const degraded =
    last.trailers['Trail-Attribution'] === 'degraded' || (last.author === 'unknown' && !!last.trailers['Trail-Actor']);
  return degraded
    ? { degraded, reason: last.trailers['Trail-Actor'] ?? 'unknown actor', commit: last.commit }
    : { degraded: false, commit: last.commit };
}
