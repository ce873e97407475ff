import { asList, asNumber, readConfig, type Config } from '../record/repo/settings.js';
import { Repo } from '../record/repo/repo.js';
import { trailHome, type Watched } from '../host/registry.js';
import { AuditFeed, type WriteSeen } from '../attribute/audit-feed.js';
import * as ctl from '../attribute/auditctl.js';
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
    const feed = await AuditFeed.start({
      home: trailHome(),
      notice,
      backlogLimit: backlogLimit(configs),
      // Someone's auditctl: what can blind attribution, so it is said each time, with who.
      configChanged: (c) => {
        const who = c.auid === undefined ? 'a process without a login session' : `${c.login} (login uid ${c.auid})`;
        log.write(
          'warning',
          'audit-config',
          c.refused
            ? `${who} tried to change the kernel's audit configuration (${c.what}); the kernel refused`
            : `${who} changed the kernel's audit configuration (${c.what})`,
          { login: c.login, auid: c.auid ?? null, what: c.what, refused: c.refused },
        );
      },
      // A login uid that is not a login's: changes made under it are credited to no one.
      loginRewritten: (what) => log.write('warning', 'audit-login', what),
    });
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
  /** Tells `fn` of links made to the directory's files, and of files opened for writing
   * (AuditFeed.onWrite). */
  onWrite?(fn: (w: WriteSeen) => void): void;
  detach(): Promise<void>;
}

export async function attachAudit(ctx: WatchContext, feed: AuditFeed | undefined): Promise<RepoAudit> {
  const config = ctx.config();
  if (!feed || config['attribute.audit'] === 'off') return { detach: async () => {} };
  const { name, dir } = ctx.watched;
  // Missing under a locked kernel: the feed said why, and this directory's windows say
  // "unknown" with that reason (AuditFeed.window); the directory is still watched.
  const locked = await feed.addDir(name, dir);
  if (locked) ctx.log('warning', 'audit', `attribution degraded, every change will say "unknown": ${locked}`);
  const attributor = new Attributor(feed, name, dir, trailHome());
  const access = await startAccess(feed, ctx.repo, name, dir, asList(config['access.paths']));
  const recorder: AccessRecorder | undefined = access?.recorder;
  if (access) ctx.log('info', 'access', `access trail: read rules on ${access.files} file(s) matching access.paths`);
  let offWrite: (() => void) | undefined;
  return {
    attributor,
    onWrite: (fn) => {
      offWrite?.();
      offWrite = feed.onWrite(name, fn);
    },
    detach: async () => {
      offWrite?.();
      await recorder?.stop().catch(() => undefined);
      await feed.removeDir(name).catch(() => undefined);
    },
  };
}

/** One watched directory as the lock decision sees it. */
export interface LockDir {
  name: string;
  /** attribute.audit */
  audit: string;
  /** attribute.lockAudit */
  lockAudit: boolean;
  /** Its watcher started (its rules were added). */
  started: boolean;
}

export interface LockInput {
  dirs: LockDir[];
  /** Why there is no audit feed; undefined when there is one. */
  auditMissing?: string;
  /** `enabled` of `auditctl -s` (undefined: not asked or unreadable). */
  enabled?: number;
  /** The rules the feed relies on that `auditctl -l` does not list. */
  missingRules: string[];
}

export interface LockPlan {
  /** lock: run `auditctl -e 2` now; already: it is locked; skip: asked, but not now (message
   * says why); none: nobody asked. */
  action: 'lock' | 'already' | 'skip' | 'none';
  message?: string;
  /** Settings that do not count (lockAudit where attribute.audit is off). */
  notes: string[];
}

const names = (ds: LockDir[]) => ds.map((d) => d.name).join(', ');

/**
 * Whether trail watch locks the kernel's audit rules (`auditctl -e 2`), decided from what it
 * knows after setting up every watched directory. The lock is host-wide: one directory
 * asking is enough. It is never taken without audit in use, nor before every rule trail
 * relies on is in: a rule missing at the lock stays missing until reboot.
 */
export function lockPlan(i: LockInput): LockPlan {
  const askers = i.dirs.filter((d) => d.lockAudit && d.audit !== 'off');
  const notes = i.dirs
    .filter((d) => d.lockAudit && d.audit === 'off')
    .map((d) => `attribute.lockAudit of ${d.name} does not count: attribute.audit is off there`);
  if (!askers.length) return { action: 'none', notes };
  const asked = `attribute.lockAudit of ${names(askers)}`;
  if (i.auditMissing !== undefined)
    return {
      action: 'skip',
      notes,
      message: `not locking audit rules (${asked}): no audit in use (${i.auditMissing})`,
    };
  if (i.enabled === ctl.LOCKED)
    return {
      action: 'already',
      notes,
      message: `audit rules are already locked (auditctl -e 2) until reboot; ${asked} is met`,
    };
  if (i.enabled === undefined || i.enabled === 0)
    return {
      action: 'skip',
      notes,
      message: `not locking audit rules (${asked}): kernel audit is ${i.enabled === 0 ? 'disabled' : 'in an unknown state'}`,
    };
  const notStarted = i.dirs.filter((d) => d.audit !== 'off' && !d.started);
  if (notStarted.length)
    return {
      action: 'skip',
      notes,
      message: `not locking audit rules (${asked}): ${names(notStarted)} could not be watched, so its rules are not in (a lock now would keep them out until reboot)`,
    };
  if (i.missingRules.length)
    return {
      action: 'skip',
      notes,
      message: `not locking audit rules (${asked}): trail's rules are not all in (missing: ${i.missingRules.join('; ')})`,
    };
  return {
    action: 'lock',
    notes,
    message: `locked the kernel's audit rules until reboot (auditctl -e 2), as ${asked} asks; the lock is host-wide: no audit rule can be added or removed now, by anyone, trail included, and audit cannot be turned off`,
  };
}

/** Asks lockPlan with what the host says now, and locks when it says so; never throws. */
export async function lockIfAsked(
  watched: Watched[],
  started: ReadonlySet<string>,
  setup: AuditSetup,
  log: Log,
): Promise<LockPlan['action']> {
  const configs = await Promise.all(watched.map((w) => configOf(w).catch(() => undefined)));
  const dirs: LockDir[] = watched.map((w, n) => ({
    name: w.name,
    audit: String(configs[n]?.['attribute.audit'] ?? 'auto'),
    lockAudit: configs[n]?.['attribute.lockAudit'] === true,
    started: started.has(w.name),
  }));
  const input: LockInput = { dirs, auditMissing: setup.missing, missingRules: [] };
  if (setup.feed && dirs.some((d) => d.lockAudit)) {
    try {
      input.enabled = (await ctl.status()).enabled;
      const listed = await ctl.listRules();
      input.missingRules = ctl
        .missingWatches(setup.feed.reliedRules(), listed)
        .map((r) => ctl.watchLine(r.path, r.perms, r.key));
      // b64 only: a 64-bit-only kernel refuses the b32 rule, and always will.
      if (ctl.missingExecArches(listed).includes('arch=b64')) input.missingRules.push(`execve rule (arch=b64)`);
    } catch (err) {
      input.enabled = undefined;
      log.write('warning', 'audit-lock', `cannot read the audit state: ${(err as Error).message}`);
    }
  }
  const plan = lockPlan(input);
  for (const n of plan.notes) log.write('notice', 'audit-lock', n);
  if (plan.action === 'none') return 'none';
  if (plan.action !== 'lock') {
    log.write(plan.action === 'skip' ? 'warning' : 'notice', 'audit-lock', plan.message!);
    return plan.action;
  }
  try {
    const r = await ctl.lock();
    log.write(
      'notice',
      'audit-lock',
      r === 'locked' ? plan.message! : 'audit rules were locked meanwhile (auditctl -e 2)',
    );
    return r === 'locked' ? 'lock' : 'already';
  } catch (err) {
    log.write('warning', 'audit-lock', `could not lock the audit rules (auditctl -e 2): ${(err as Error).message}`);
    return 'skip';
  }
}
