import type { Repo } from '../../record/repo/repo.js';
import { asNumber, readConfig } from '../../record/repo/settings.js';
import { remoteFrom, type ReviewRemote } from '../review/remote.js';
import { readBacklog, type Backlog, type RefBacklog } from './backlog-counter.js';
import { loadPublishState, type Alarm, type PublishState, type Waiting } from './publish-state.js';

/**
 * What `trail status`, `trail doctor` and the daemon show about publishing: read from the
 * refs and the small state file only, never from the network, so it answers while the
 * remote is down.
 */
export interface PublishStatus {
  remote: string;
  prefix: string;
  refs: (Omit<RefBacklog, 'oldest'> & { oldest: string | null })[];
  backlog: {
    /** Distinct commits not yet on the remote. */
    commits: number;
    oldest: string | null;
    ageSeconds: number | null;
    /** Older than remote.alertAfterSeconds. */
    overdue: boolean;
  };
  alertAfterSeconds: number;
  lastAttempt: PublishState['lastAttempt'];
  lastSuccess: string | null;
  alarms: Alarm[];
  waiting: Waiting[];
}

const iso = (t: number | null) => (t === null ? null : new Date(t * 1000).toISOString());

export async function readPublishStatus(
  repo: Repo,
  remote: ReviewRemote,
  opts: { now?: () => number; alertAfterSeconds?: number; backlog?: Promise<Backlog> } = {},
): Promise<PublishStatus> {
  const now = (opts.now ?? Date.now)();
  const alertAfterSeconds =
    opts.alertAfterSeconds ?? asNumber((await readConfig(repo))['remote.alertAfterSeconds'], 900);
  const [b, state] = await Promise.all([opts.backlog ?? readBacklog(repo, remote), loadPublishState(repo, remote)]);
  const ageSeconds = b.oldest === null ? null : Math.max(0, Math.round(now / 1000 - b.oldest));
  return {
    remote: `${remote.owner}/${remote.repo}`,
    prefix: remote.prefix,
    refs: b.refs.map((r) => ({ ...r, oldest: iso(r.oldest) })),
    backlog: {
      commits: b.commits,
      oldest: iso(b.oldest),
      ageSeconds,
      overdue: ageSeconds !== null && ageSeconds >= alertAfterSeconds,
    },
    alertAfterSeconds,
    lastAttempt: state.lastAttempt,
    lastSuccess: state.lastSuccess,
    alarms: state.alarms,
    waiting: state.waiting,
  };
}

/** The same for a trail whose remote may not be set: undefined then. `backlog`: the backlog
 * when the caller knows it already (the watcher keeps it while the refs are unchanged: it is
 * read from the refs alone; its age is reckoned here, from now). */
export async function readPublishStatusOf(
  repo: Repo,
  opts: { backlog?: (remote: ReviewRemote) => Promise<Backlog> } = {},
): Promise<PublishStatus | undefined> {
  const config = await readConfig(repo);
  const remote = remoteFrom(config, repo.info.name);
  if (!remote) return undefined;
  return readPublishStatus(repo, remote, {
    alertAfterSeconds: asNumber(config['remote.alertAfterSeconds'], 900),
    ...(opts.backlog ? { backlog: opts.backlog(remote) } : {}),
  });
}
