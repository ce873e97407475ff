import { asList, asNumber, readConfig, type Config } from '../record/repo/settings.js';
import { Repo } from '../record/repo/repo.js';
import { trailHome, type Watched } from '../host/registry.js';
import { AuditFeed } from '../attribute/audit-feed.js';
import { Attributor } from '../attribute/attributor.js';
import { startAccess, type AccessRecorder } from '../attribute/access.js';
import type { Log } from './log.js';
import type { WatchContext } from './job.js';

/** Who-data for the whole host: one audit feed shared by every watched directory, or why
 * there is none (then every commit says "unknown", with this reason). */
export type AuditSetup = { feed: AuditFeed; missing?: undefined } | { feed?: undefined; missing: string };

/** Audit is wanted unless every watched directory turned it off. */
export function auditWanted(configs: Config[]): boolean {
  return !(configs.length && configs.every((c) => c['attribute.audit'] === 'off'));
}

/** The largest backlog any watched directory asks for. */
export function backlogLimit(configs: Config[]): number {
  return Math.max(0, ...configs.map((c) => asNumber(c['attribute.backlogLimit'], 8192)));
}

async function configOf(w: Watched): Promise<Config> {
  const repo = await Repo.open(w.repo);
  try {
    return await readConfig(repo);
  } finally {
    repo.close();
  }
}

/** Starts the host's audit feed for these watched directories; never throws. */
export async function setupAudit(watched: Watched[], log: Log): Promise<AuditSetup> {
  const configs = await Promise.all(watched.map(configOf));
  if (!auditWanted(configs)) return { missing: 'attribute.audit is off' };
  const notice = (msg: string) => log.write('notice', 'audit', msg);
  try {
    const feed = await AuditFeed.start({ home: trailHome(), notice, backlogLimit: backlogLimit(configs) });
    if (feed instanceof AuditFeed) {
      notice('attribution: Linux audit (records read from the auditd log)');
      return { feed };
    }
    log.write('warning', 'audit', `attribution degraded, every change will say "unknown": ${feed.unavailable}`);
    return { missing: feed.unavailable };
  } catch (err) {
    const missing = `audit could not be set up: ${(err as Error).message}`;
    log.write('warning', 'audit', `attribution degraded: ${missing}`);
    return { missing };
  }
}

/** One watched directory's part of the feed: its watch rules, the attributor that reads who
 * did what, and the access trail (access.paths). */
export interface RepoAudit {
  attributor?: Attributor;
  detach(): Promise<void>;
}

export async function attachAudit(ctx: WatchContext, feed: AuditFeed | undefined): Promise<RepoAudit> {
  const config = ctx.config();
  if (!feed || config['attribute.audit'] === 'off') return { detach: async () => {} };
  const { name, dir } = ctx.watched;
  await feed.addDir(name, dir);
  const attributor = new Attributor(feed, name, dir, trailHome());
  const access = await startAccess(feed, ctx.repo, name, dir, asList(config['access.paths']));
  const recorder: AccessRecorder | undefined = access?.recorder;
  if (access) ctx.log('info', 'access', `access trail: read rules on ${access.files} file(s) matching access.paths`);
  return {
    attributor,
    detach: async () => {
      await recorder?.stop().catch(() => undefined);
      await feed.removeDir(name).catch(() => undefined);
    },
  };
}
