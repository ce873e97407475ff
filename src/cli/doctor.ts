import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { logDiskState } from '../attribute/auditd-health.js';
import * as ctl from '../attribute/auditctl.js';
import { describeHostKey, loadHostKey, type HostKeyInfo } from '../host/host-key.js';
import { listWatched } from '../host/registry.js';
import type { ProtectionReport } from '../act/publish/ruleset-guard.js';
import { aptConfFile } from './hooks.js';
import { Repo } from '../record/repo/repo.js';
import { invalidLine, readSettings, type InvalidSetting } from '../record/repo/settings.js';
import { indexCheckWhere } from '../record/list/index-check.js';
import type { PublishStatus } from '../act/publish/publish-status.js';
import { plural, relativeTime } from './output.js';
import { commandContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_audit_feed = () => import('../attribute/audit-feed.js');
const lazy_ruleset_guard = () => import('../act/publish/ruleset-guard.js');
const lazy_publish = () => import('../act/publish/publish-status.js');

export interface DoctorReport {
  root: boolean;
  audit: {
    available: boolean;
    why?: string;
    auditctlVersion?: string;
    /** 0 off, 1 on, 2 on and locked: no audit rule can change until reboot. */
    enabled?: number;
    /** enabled 2 (`auditctl -e 2`): rules can be neither added nor removed until reboot. */
    locked?: boolean;
    /** Watched directories whose attribute.lockAudit is set (trail watch then locks). */
    lockAudit: string[];
    auditdPid?: number;
    /** The pid the kernel still names although that auditd has exited (see AuditStatus). */
    deadAuditdPid?: number;
    lost?: number;
    backlog?: number;
    backlogLimit?: number;
    logFile: string;
    logReadable: boolean;
    /** Free space where auditd writes: it stops writing records when that runs low. */
    logDisk?: { dir: string; freeMb: number; totalMb: number };
    trailRules: string[];
    /** Watched directories without their audit rule (expected while trail watch is not running). */
    unwatched: string[];
  };
  inotify: { maxUserWatches?: number; maxUserInstances?: number; maxQueuedEvents?: number };
  aptHook: { installed: boolean; file: string };
  attribution: { degraded: boolean; reasons: string[] };
  /** Per watched directory with a GitHub remote: whether GitHub keeps its branches append-only. */
  remotes: ({ trail: string } & ProtectionReport)[];
  /** The host's signing key (allowed_signers line for the auditor), null before it exists. */
  signingKey: HostKeyInfo | null;
  /** Per watched directory with a remote: what is not yet off the host, and the alarms. */
  publish: (PublishStatus & { name: string })[];
  /** Per trail with webhook alerts not delivered yet (src/act/alert-outbox.ts). */
  alerts: { name: string; waiting: number; oldest: string | null; lastProblem: string | null }[];
  /** Stored settings today's rules refuse (their defaults are in force), per trail. */
  settings: ({ trail: string } & InvalidSetting)[];
  /** Where status and snapshot without a daemon check the stat index: in C (the addon
   * packaging/native.mjs builds), or in JavaScript, ~2× slower at 50k files, and why. */
  indexCheck: { native: boolean; file: string; why?: string };
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export async function diagnose(): Promise<DoctorReport> {
  const reasons: string[] = [];
  const logFile = (await lazy_audit_feed()).auditLogPath();
  const av = await ctl.available();
  const audit: DoctorReport['audit'] = {
    available: av.ok,
    logFile,
    logReadable: false,
    trailRules: [],
    unwatched: [],
    lockAudit: [],
  };
  const settings: DoctorReport['settings'] = [];
  for (const w of await listWatched()) {
    try {
      const repo = await Repo.open(w.repo);
      try {
        const s = await readSettings(repo);
        if (s.config['attribute.lockAudit'] === true) audit.lockAudit.push(w.name);
        for (const i of s.invalid) settings.push({ trail: w.name, ...i });
      } finally {
        repo.close();
      }
    } catch {
      /* a trail that cannot be opened is another command's problem */
    }
  }
  if (av.why) {
    audit.why = av.why;
    reasons.push(av.why);
  }
  audit.auditctlVersion = await ctl.version();
  if (av.ok) {
    const s = await ctl.status();
    Object.assign(audit, {
      enabled: s.enabled,
      locked: ctl.isLocked(s),
      auditdPid: s.pid,
      ...(s.deadPid ? { deadAuditdPid: s.deadPid } : {}),
      lost: s.lost,
      backlog: s.backlog,
      backlogLimit: s.backlogLimit,
    });
    if (!s.enabled) reasons.push('kernel audit is disabled (trail watch enables it: auditctl -e 1)');
    if (!s.pid) reasons.push(`${ctl.notRunning(s)} (service auditd start)`);
    if (s.lost)
      reasons.push(
        `the kernel has lost ${s.lost} audit record(s) since boot (a window with new losses is recorded as unknown)`,
      );
    if (s.backlogLimit < 8192)
      reasons.push(
        `audit backlog limit is ${s.backlogLimit} (trail watch raises it to 8192; bursts overflow small queues)`,
      );
    const rules = await ctl.listRules();
    audit.trailRules = rules.filter((r) => / -k trail-|key=trail-/.test(r));
    for (const w of await listWatched()) {
      if (rules.includes(ctl.watchLine(w.dir, 'wa', ctl.watchKey(w.name)))) continue;
      audit.unwatched.push(w.name);
      // Locked, a missing rule is not "trail watch is not running": it cannot come back before a reboot.
      if (ctl.isLocked(s)) reasons.push(`${ctl.lockedMissingReason(w.dir)}: changes there say "unknown" until reboot`);
    }
    const disk = logDiskState();
    if (disk) {
      audit.logDisk = { dir: disk.logDir, freeMb: disk.freeMb, totalMb: disk.totalMb };
      if (disk.suspended ?? disk.low) reasons.push(disk.suspended ?? disk.low!);
    }
    try {
      await fsp.access(logFile);
      audit.logReadable = true;
    } catch {
      reasons.push(`cannot read ${logFile}`);
    }
  }
  const inotify = {
    maxUserWatches: readNumber('/proc/sys/fs/inotify/max_user_watches'),
    maxUserInstances: readNumber('/proc/sys/fs/inotify/max_user_instances'),
    maxQueuedEvents: readNumber('/proc/sys/fs/inotify/max_queued_events'),
  };
  const file = aptConfFile('/');
  const key = await loadHostKey();
  const publish: DoctorReport['publish'] = [];
  const alerts: DoctorReport['alerts'] = [];
  // The principal an auditor's allowed_signers names: the host as the remote names it
  // (review.host), as `trail remote show` prints it; the machine's name without a remote.
  let principal: string | undefined;
  for (const w of await listWatched()) {
    try {
      const repo = await Repo.open(w.repo);
      principal ??= (await (await import('../act/review/remote.js')).readRemote(repo))?.host;
      const p = await (await lazy_publish()).readPublishStatusOf(repo);
      if (p) publish.push({ name: w.name, ...p });
      const waiting = await (await import('../act/alert-outbox.js')).outboxState(repo);
      if (waiting.waiting) alerts.push({ name: w.name, ...waiting });
    } catch {
      /* a trail that cannot be opened is another command's problem */
    }
  }
  return {
    remotes: await (await lazy_ruleset_guard()).watchedProtection(),
    signingKey: key ? describeHostKey(key, principal) : null,
    root: process.getuid?.() === 0,
    audit,
    inotify,
    aptHook: { installed: existsSync(file), file },
    attribution: {
      degraded: !av.ok || reasons.some((r) => /disabled|not running|cannot read|stops writing records/.test(r)),
      reasons,
    },
    publish,
    alerts,
    settings,
    indexCheck: indexCheckWhere(),
  };
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'what trail can see on this host: audit (who changed what), inotify limits, the apt hook, the signing key, what is not yet pushed (alarms) and whether GitHub keeps the published branches append-only',
    )
    .addHelpText('after', '\nExamples:\n  sudo trail doctor\n  sudo trail doctor --json')
    .action(async (_opts: unknown, cmd: Command) => {
      const { out } = commandContext(cmd);
      const r = await diagnose();
      const a = r.audit;
      const ok = (b: boolean) => (b ? out.color.green('ok') : out.color.yellow('no'));
      out.line(
        `attribution:  ${r.attribution.degraded ? out.color.yellow('degraded: changes are recorded as "unknown"') : out.color.green('Linux audit')}`,
      );
      out.line(`running as root: ${ok(r.root)}`);
      out.line(
        `audit:        ${a.available ? `auditctl ${a.auditctlVersion ?? '?'}, enabled ${a.enabled}, auditd ${a.auditdPid ? `pid ${a.auditdPid}` : a.deadAuditdPid ? `not running (pid ${a.deadAuditdPid} exited)` : 'not running'}, lost ${a.lost}, backlog ${a.backlog}/${a.backlogLimit}` : a.why}`,
      );
      out.line(
        `audit lock:   ${!a.available ? 'unknown' : a.locked ? out.color.yellow('audit rules locked until reboot (auditctl -e 2)') : 'not locked'}; attribute.lockAudit ${a.lockAudit.length ? `set (${a.lockAudit.join(', ')})` : 'not set'}`,
      );
      out.line(
        `audit log:    ${a.logFile} ${a.available ? (a.logReadable ? 'readable' : 'not readable') : ''}${a.logDisk ? `, ${a.logDisk.freeMb} MB free` : ''}`.trimEnd(),
      );
      out.line(
        `trail rules:  ${a.trailRules.length ? a.trailRules.join('; ') : 'none (trail watch adds them while it runs)'}`,
      );
      out.line(
        `inotify:      max_user_watches ${r.inotify.maxUserWatches}, max_user_instances ${r.inotify.maxUserInstances}, max_queued_events ${r.inotify.maxQueuedEvents}`,
      );
      out.line(
        `apt hook:     ${r.aptHook.installed ? `installed (${r.aptHook.file})` : 'not installed (trail hooks install)'}`,
      );
      out.line(
        `signing key:  ${r.signingKey ? `${r.signingKey.fingerprint} (${r.signingKey.file})\n  allowed_signers: ${r.signingKey.allowedSigners}` : 'none yet (made at trail init or the next write; needs ssh-keygen)'}`,
      );
      out.line(
        `index check:  ${r.indexCheck.native ? `in C (${r.indexCheck.file})` : out.color.yellow(`in JavaScript: ${r.indexCheck.why ?? `${r.indexCheck.file} not loaded`}; status and snapshot without a daemon are slower (build it: node packaging/native.mjs)`)}`,
      );
      for (const why of r.attribution.reasons) out.line(`  - ${why}`);
      for (const p of r.remotes) {
        const label = `remote (${p.trail}):`.padEnd(14);
        if (p.state === 'protected') out.line(`${label}${out.color.green('append-only')}: ${p.message}`);
        else {
          out.line(
            `${label}${out.color.yellow(p.state === 'unprotected' ? 'NOT append-only' : p.state)}: ${p.message}`,
          );
          out.warn(`${p.trail}: ${p.message}`);
        }
      }
      for (const p of r.publish) {
        const b = p.backlog;
        const last = p.lastAttempt
          ? `last push ${p.lastAttempt.ok ? 'ok' : `failed (${p.lastAttempt.error ?? 'refused'})`} ${relativeTime(new Date(p.lastAttempt.time))}`
          : 'not pushed yet';
        out.line(
          `publish:      ${p.name} → ${p.remote}: ${b.commits ? `${plural(b.commits, 'commit')} not pushed (oldest ${relativeTime(new Date(b.oldest!))}${b.overdue ? `, over remote.alertAfterSeconds ${p.alertAfterSeconds}` : ''})` : 'up to date'}; ${last}`,
        );
        for (const a of p.alarms) out.line(`  - ${out.color.red('ALARM')}: ${a.message}`);
        for (const w of p.waiting) out.line(`  - ${w.message}`);
      }
      for (const a of r.alerts)
        out.warn(
          `alerts: ${a.name}: ${plural(a.waiting, 'webhook alert')} not delivered yet (oldest ${relativeTime(new Date(a.oldest!))}${a.lastProblem ? `; last try: ${a.lastProblem}` : ''})`,
        );
      for (const s of r.settings) out.warn(`${s.trail}: ${invalidLine(s)}`);
      out.result(r);
    });
}
