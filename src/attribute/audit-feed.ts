import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logDiskState, readAuditdConf } from './auditd-health.js';
import * as ctl from './auditctl.js';
import { Assembler, type AuditEvent } from './events.js';
import { LogTail } from './log-tail.js';
import { RuleUsers } from './rule-users.js';
import { parseRecord, type AuditRecord } from './records.js';
import { LoginRewrites } from './login-rewrites.js';
import { phase } from '../util/timing.js';
import { pidAlive } from '../util/pid.js';
import { userName } from '../util/accounts.js';
import { toBytes } from '../util/bytes.js';

export interface FeedOptions {
  /** trail's host state folder: the barrier file lives there. */
  home: string;
  logFile?: string;
  backlogLimit?: number;
  barrierTimeoutMs?: number;
  /** Notices for the daemon's log (rules added, audit enabled, backlog raised). */
  notice?: (msg: string) => void;
  /** An audit configuration change made from a login session (see AuditFeed.configChanges). */
  configChanged?: (change: ConfigChange) => void;
  /** A process rewrote (or cleared) its login uid: what it did (see login-rewrites.ts). */
  loginRewritten?: (what: string) => void;
}

/** A CONFIG_CHANGE record with a login uid: auditctl (or another audit netlink client) run
 * from someone's session. Not trail watch's own: under systemd it has no login session, and
 * run from one, that session's records are left out (configChangeOf). */
export interface ConfigChange {
  /** Login name, or `auid<N>` when the uid has no name here; NO_LOGIN without a session. */
  login: string;
  /** undefined: sent without a login session (counted only when it blinds attribution). */
  auid: number | undefined;
  /** What was asked, from the record: `remove_rule key="trail-w"`, `set audit_enabled=0`. */
  what: string;
  /** The kernel refused it (res=0): audit locked, or a bad request. */
  refused: boolean;
}

/** This process's audit session: set when trail watch was started from a login session
 * (in the foreground, say), whose records then carry it; unset under systemd. */
function ownSession(): string | undefined {
  try {
    const ses = readFileSync('/proc/self/sessionid', 'latin1').trim();
    return ses === '4294967295' ? undefined : ses;
  } catch {
    return undefined;
  }
}

/** Describes a CONFIG_CHANGE record's request in its own words; undefined for one without a
 * login uid, or from trail's own session (its own rule changes are in that session). */
function configChangeOf(f: Map<string, string>, own: string | undefined): ConfigChange | undefined {
  const auid = Number(f.get('auid'));
  if (!validAuid(auid)) return undefined;
  if (own !== undefined && f.get('ses') === own) return undefined;
  return { ...describeChange(f), login: userName(auid) ?? `auid${auid}`, auid };
}

function validAuid(auid: number): boolean {
  return Number.isSafeInteger(auid) && auid >= 0 && auid !== 4294967295;
}

/** What a CONFIG_CHANGE record asked, and whether the kernel refused it. */
function describeChange(f: Map<string, string>): { what: string; refused: boolean } {
  const parts = [f.get('op') ?? 'change'];
  for (const k of ['key', 'audit_enabled', 'audit_failure', 'audit_backlog_limit', 'audit_rate_limit'])
    if (f.has(k)) parts.push(k === 'key' ? `key=${JSON.stringify(f.get(k))}` : `${k}=${f.get(k)}`);
  return { what: parts.join(' '), refused: f.get('res') === '0' };
}

/** The login a change without one is counted under (a checkpoint's configChangedBy). */
export const NO_LOGIN = '(no login session)';

/** How many of the latest configuration changes are kept with their login (the count goes on). */
const CONFIG_CHANGES_KEPT = 1000;

/** What the feed knows about one quiet window. */
export interface WindowView {
  events: AuditEvent[];
  /** Set when attribution cannot be trusted for this window: every actor is then unknown. */
  degraded?: string;
  /** When trail last saw the lost counter grow (ms): a change older than that and not yet
   * committed may be one whose record was lost, in this window or a later one. */
  lossAt?: number;
  lostRecords: number;
  /** When a new auditd last began receiving records, where what came before was dropped. */
  registered?: { at: number; why: string };
  /** Why a session's login uid was rewritten rather than set by a login (login-rewrites.ts). */
  rewritten?: (ses: number | undefined) => string | undefined;
}

/** auditd's log_file setting, else its default. */
export function auditLogPath(conf = '/etc/audit/auditd.conf'): string {
  return readAuditdConf(conf).logFile;
}

/** Why records do not reach the log, when auditd's own settings say: its disk is low. */
function noRecordsWhy(base: string): string {
  const disk = logDiskState();
  return disk?.suspended ? `${base}: ${disk.suspended}` : base;
}

/** The longest an event waits for the change it announces (a process holding a file open
 * for writing may write much later); it is kept only while its process still runs. */
const HOLD_MS = 10 * 60_000;
/** How often trail's rules are listed when nothing says they changed. */
const RULES_CHECK_MS = 60_000;
/** An open announces a write that may follow it by this much. */
const SETTLE_MS = 1000;

/**
 * Linux audit as a source of who-data for trail watch: trail's own rules, the records from
 * auditd's log grouped into events, and a barrier that says when every record of a moment
 * has been read. One feed serves every watched directory of the daemon.
 */
export class AuditFeed {
  private tail: LogTail;
  private asm: Assembler;
  private events: AuditEvent[] = [];
  private dirs = new Map<string, string>(); // key → dir
  /** Per directory key, who is told of links made to its files and of files opened for
   * writing (onWrite). */
  private writeListeners = new Map<string, (w: WriteSeen) => void>();
  private syncFile: string;
  private issued = 0;
  private seen = 0;
  private waiters: { target: number; resolve: (ok: boolean) => void }[] = [];
  private lastLost = 0;
  private lastSerialSeen: number | null = null;
  private lastReason: string | undefined;
  private lossAt: number | undefined;
  /** Events already shown to a window: kept after it only while their process runs. */
  private considered = new Set<string>();
  private access: { key: string; file: string }[] = [];
  private reads: AuditEvent[] = [];
  /** auditd's pid at the last status; a new one may come with rules of its own. */
  private auditdPid = 0;
  private rulesSuspect = true;
  private rulesCheckedAt = 0;
  private readonly users: RuleUsers;
  /** Rules found missing while audit is locked (key → why): they cannot come back until reboot. */
  private lockedMissing = new Map<string, string>();
  private execLockedSaid = false;
  /** Audit configuration changes from login sessions read so far; logins of the latest. */
  private configChangeCount = 0;
  /** Login uids rewritten, and auditd started again while the kernel dropped what no auditd
   * received, since the feed started: changes a checkpoint must say have no true author. */
  private loginRewriteCount = 0;
  private auditdRestartCount = 0;
  private readonly session = ownSession();
  private configLogins: string[] = [];
  /** CONFIG_CHANGE and LOGIN records waiting for their SYSCALL record. */
  private aux: AuditRecord[] = [];
  private readonly logins = new LoginRewrites();
  /** The latest registration of a new auditd, when the kernel drops what none receives, for
   * the next window of each directory (key → it): changes older than it are in that one. */
  private registered = new Map<string, { at: number; why: string }>();
  /** The pid of a DAEMON_START record whose first kernel record has not come yet. */
  private started: number | undefined;
  /** Directory keys whose next window cannot be trusted, with why (blindedBy). */
  private blinded = new Map<string, string>();

  private constructor(private readonly opts: FeedOptions) {
    this.syncFile = join(opts.home, 'audit-sync');
    this.users = new RuleUsers(join(opts.home, 'audit-rules'));
    this.asm = new Assembler((e) => this.onEvent(e));
    this.tail = new LogTail(opts.logFile ?? auditLogPath(), (line) => {
      const r = parseRecord(line);
      if (!r) return;
      // Who sent a configuration change or wrote a login uid is in the SYSCALL record that
      // follows (ppid, exe): they wait for it, or for the next window (flushAux).
      // auditd's own start record, then the first kernel record it received: from then on
      // records arrive again (its CONFIG_CHANGE audit_pid=… is not always in the log).
      if (r.type === 'DAEMON_START') this.started = Number(r.fields.get('pid'));
      else if (this.started !== undefined && !r.type.startsWith('DAEMON_')) {
        this.noteRegistration(this.started, r.time);
        this.started = undefined;
      }
      if (r.type === 'CONFIG_CHANGE' || r.type === 'LOGIN') {
        // Bounded: a SYSCALL record that never comes (lost) must not grow the daemon.
        if (this.aux.length >= 1000) this.flushAux();
        this.aux.push(r);
      } else if (r.type === 'SYSCALL' && this.aux.some((a) => a.id === r.id)) this.flushAux(r);
      this.asm.push(r);
    });
  }

  /** Starts audit for trail (enabling it and raising its queue when needed), or says why
   * it cannot be used here. */
  static async start(opts: FeedOptions): Promise<AuditFeed | { unavailable: string }> {
    const av = await ctl.available();
    if (!av.ok) return { unavailable: av.why! };
    const feed = new AuditFeed(opts);
    const say = opts.notice ?? (() => undefined);
    if (await ctl.enable()) say('kernel audit was off: enabled it (auditctl -e 1)');
    const s = await ctl.status();
    if (!s.pid)
      return {
        unavailable: `${ctl.notRunning(s)}: no process receives audit records (start it: service auditd start)`,
      };
    if (ctl.isLocked(s))
      say(
        'kernel audit rules are locked (auditctl -e 2) until reboot: trail uses those of its rules that are in, cannot add missing ones, and leaves them in place when it stops',
      );
    // attribute.backlogLimit 0: the host's audit setup is left as it is.
    const want = opts.backlogLimit ?? 8192;
    const was = want > 0 ? await ctl.ensureBacklog(want) : undefined;
    if (was?.locked)
      say(
        `audit rules are locked (auditctl -e 2) until reboot: the kernel audit backlog stays at ${was.from} records (attribute.backlogLimit asks ${want}); a burst that overflows it makes its window "unknown"`,
      );
    else if (was)
      say(`raised the kernel audit backlog from ${was.from} to ${want} records, so that bursts of writes are not lost`);
    mkdirSync(opts.home, { recursive: true, mode: 0o700 });
    if (!existsSync(feed.syncFile)) writeFileSync(feed.syncFile, '', { mode: 0o600 });
    feed.tail.start(false);
    try {
      await feed.useRule(feed.syncFile, 'wa', ctl.SYNC_KEY);
    } catch (err) {
      feed.tail.close();
      // Without the barrier's rule no window can be trusted: the whole feed is unavailable.
      if (err instanceof ctl.AuditLockedError) return { unavailable: err.message };
      throw err;
    }
    feed.sayExecLocked(await ctl.addExecRules());
    feed.lastLost = s.lost;
    feed.auditdPid = s.pid;
    // The first barrier proves the log is where records arrive (log_file, write_logs=yes).
    const why = await feed.firstBarrier(s);
    if (why) {
      feed.tail.close();
      const locked = await feed.lockedForRemoval(1);
      await feed.dropRule(feed.syncFile, 'wa', ctl.SYNC_KEY, locked);
      // The execve rules it added are no use to anyone either, unless another trail watch runs.
      if (!locked) await ctl.removeExecRulesIfUnused();
      return { unavailable: noRecordsWhy(why) };
    }
    return feed;
  }

  /** Undefined once a barrier's record has been read; else why not, with what the kernel
   * says. A record lost under load (a full kernel backlog) may be the barrier's own: then
   * one more barrier, since one loss says nothing about where records go. */
  private async firstBarrier(at: ctl.AuditStatus): Promise<string | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (await this.barrier()) return undefined;
      const now = await ctl.status().catch(() => undefined);
      const lost = now ? now.lost - at.lost : 0;
      if (attempt === 0 && now && now.pid === at.pid && lost > 0) continue;
      const timeout = (this.opts.barrierTimeoutMs ?? 30_000) / 1000;
      const kernel = now
        ? `auditd pid ${at.pid}${now.pid === at.pid ? '' : ` then ${now.pid || 'none'}`}, ${Math.max(0, lost)} records lost meanwhile, backlog ${now.backlog} of ${now.backlogLimit}`
        : 'auditctl -s does not answer';
      return `no audit record reached ${this.opts.logFile ?? auditLogPath()} within ${timeout} s (${kernel}; is write_logs off, or another log_file set?)`;
    }
  }

  /** Adds the directory's watch rule; when it is missing and audit is locked, says why
   * (its windows then say "unknown" with that reason) instead of failing the directory. */
  async addDir(name: string, dir: string): Promise<string | undefined> {
    const key = ctl.watchKey(name);
    this.dirs.set(key, dir);
    try {
      const r = await this.useRule(dir, 'wa', key);
      if (r === 'added') this.opts.notice?.(`audit rule added: ${ctl.watchLine(dir, 'wa', key)}`);
      this.lockedMissing.delete(key);
      return undefined;
    } catch (err) {
      if (!(err instanceof ctl.AuditLockedError)) throw err;
      this.lockedMissing.set(key, err.message);
      this.opts.notice?.(`attribution degraded for ${dir}, every change there will say "unknown": ${err.message}`);
      return err.message;
    }
  }

  /** The watch rules this feed relies on now (barrier, watched directories, access trail):
   * what must be in before audit may be locked. */
  reliedRules(): { path: string; perms: string; key: string }[] {
    return [
      { path: this.syncFile, perms: 'wa', key: ctl.SYNC_KEY },
      ...[...this.dirs].map(([key, path]) => ({ path, perms: 'wa', key })),
      ...this.access.map((a) => ({ path: a.file, perms: 'r', key: a.key })),
    ];
  }

  /** Read rules (`-p r`) for the files of the access trail, keyed trail-access-<name>. */
  async addAccess(name: string, files: string[]): Promise<number> {
    const key = `${ctl.KEY_PREFIX}access-${name}`;
    let n = 0;
    for (const file of files) {
      if (this.access.some((a) => a.key === key && a.file === file)) continue;
      try {
        await this.useRule(file, 'r', key);
        this.access.push({ key, file });
        n++;
      } catch (err) {
        // Locked: the message says so (reads of that file are not recorded until reboot).
        if (err instanceof ctl.AuditLockedError)
          this.opts.notice?.(`reads of ${file} are not recorded: ${err.message}`);
        else this.opts.notice?.(`cannot add a read rule for ${file}: ${(err as Error).message}`);
      }
    }
    return n;
  }

  /** The reads seen since the last call, for one watched directory. */
  takeAccess(name: string): AuditEvent[] {
    const key = `${ctl.KEY_PREFIX}access-${name}`;
    const mine = this.reads.filter((e) => e.key === key);
    this.reads = this.reads.filter((e) => e.key !== key);
    return mine;
  }

  async removeAccess(name: string, locked?: boolean): Promise<void> {
    const key = `${ctl.KEY_PREFIX}access-${name}`;
    const mine = this.access.filter((x) => x.key === key);
    locked ??= await this.lockedForRemoval(mine.length);
    for (const a of mine) await this.dropRule(a.file, 'r', key, locked);
    this.access = this.access.filter((x) => x.key !== key);
  }

  async removeDir(name: string): Promise<void> {
    const key = ctl.watchKey(name);
    const dir = this.dirs.get(key);
    const access = this.access.filter((x) => x.key === `${ctl.KEY_PREFIX}access-${name}`).length;
    const locked = await this.lockedForRemoval(access + (dir ? 1 : 0));
    await this.removeAccess(name, locked);
    this.dirs.delete(key);
    this.lockedMissing.delete(key);
    if (dir) await this.dropRule(dir, 'wa', key, locked);
  }

  async close(): Promise<void> {
    const locked = await this.lockedForRemoval(this.dirs.size + this.access.length + 1);
    for (const [key, dir] of this.dirs) await this.dropRule(dir, 'wa', key, locked);
    this.dirs.clear();
    for (const a of this.access) await this.dropRule(a.file, 'r', a.key, locked);
    this.access = [];
    await this.dropRule(this.syncFile, 'wa', ctl.SYNC_KEY, locked);
    if (!locked) await ctl.removeExecRulesIfUnused();
    this.tail.close();
    for (const w of this.waiters) w.resolve(false);
    this.waiters = [];
  }

  /**
   * Waits until every record of syscalls made before this call has been read: trail
   * writes its own barrier file (audited with its own key) and waits for that record.
   * The kernel queues records in order and auditd writes them in order, so once the
   * barrier's record is read, so is every record before it — unless some were lost,
   * which the lost counter says. false = the record did not come (auditd stopped).
   */
  barrier(): Promise<boolean> {
    const target = ++this.issued;
    const p = new Promise<boolean>((resolve) => this.waiters.push({ target, resolve }));
    writeFileSync(this.syncFile, String(target));
    // Long: auditd writes late under heavy disk load (dpkg fsyncs); a dead auditd is caught
    // by the status check before the barrier, not by this timeout.
    const timeout = this.opts.barrierTimeoutMs ?? 30_000;
    const t0 = Date.now();
    const poll = () => {
      this.tail.read();
      const w = this.waiters.find((x) => x.target === target);
      if (!w) return;
      if (Date.now() - t0 > timeout) {
        this.waiters = this.waiters.filter((x) => x !== w);
        // Later barriers must not wait for this one's record.
        this.seen = Math.max(this.seen, target);
        w.resolve(false);
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
    return p;
  }

  /** The events of one watched directory for the window that ends now, and whether they
   * can be trusted. */
  async window(name: string, scanStart = Date.now()): Promise<WindowView> {
    // Without auditd no barrier record can come: do not wait for it on every window. Its pid
    // is looked up in /proc (no process to start); auditctl is asked when that one is gone.
    let up = this.auditdAlive();
    if (!up) {
      const s = await ctl.status().catch(() => undefined);
      if (s && s.pid !== this.auditdPid) this.rulesSuspect = true; // a new auditd may have loaded its own rules (-D)
      this.auditdPid = s?.pid ?? 0;
      up = !!s && s.enabled !== 0 && s.pid !== 0;
    }
    // Nor from an auditd that has suspended itself for want of disk space.
    const suspended = up ? logDiskState()?.suspended : undefined;
    // Nor without the barrier's rule, missing under a locked kernel: it cannot come back.
    const noBarrier = this.lockedMissing.has(ctl.SYNC_KEY);
    const arrived = up && !suspended && !noBarrier ? await this.barrier() : false;
    phase('window: audit status');
    this.asm.flush();
    this.flushAux();
    let degraded: string | undefined;
    let lost = 0;
    try {
      // Read after the barrier's record: a record lost before it has been counted by then.
      const s = await ctl.status();
      if (s.pid !== this.auditdPid) this.rulesSuspect = true;
      this.auditdPid = s.pid;
      lost = Math.max(0, s.lost - this.lastLost);
      this.lastLost = s.lost;
      if (lost) this.lossAt = Date.now();
      if (!s.enabled) degraded = 'kernel audit is disabled (auditctl -e 0)';
      else if (!s.pid) degraded = ctl.notRunning(s);
      else if (lost) degraded = `${lost} audit record(s) were lost (kernel backlog full or auditd too slow)`;
      else if (suspended) degraded = `auditd writes no records: ${suspended}`;
      else if (!arrived) {
        degraded = noRecordsWhy('audit records stopped arriving in the log');
        // The barrier's own rule may be what is gone: the next window looks.
        if (!noBarrier) this.rulesSuspect = true;
      }
      // Rules are listed when something may have removed them (a remove_rule record naming a
      // trail key, another auditd, a barrier that did not come), and once a minute in any
      // case: not on every commit.
      if (this.rulesSuspect || (!degraded && Date.now() - this.rulesCheckedAt > RULES_CHECK_MS)) {
        this.rulesSuspect = false;
        this.rulesCheckedAt = Date.now();
        const rules = await ctl.listRules();
        const wanted = [
          { path: this.syncFile, perms: 'wa', key: ctl.SYNC_KEY },
          ...[...this.dirs].map(([key, path]) => ({ path, perms: 'wa', key })),
        ];
        const missing = ctl.missingWatches(wanted, rules);
        const repair = lockedRepair(missing, ctl.isLocked(s), this.lockedMissing);
        for (const [key, reason] of repair.newlyLocked)
          this.opts.notice?.(
            `attribution degraded for ${key === ctl.SYNC_KEY ? 'every watched directory' : this.dirs.get(key)}, changes will say "unknown": ${reason}`,
          );
        this.lockedMissing = repair.lockedMissing;
        if (repair.add.length) {
          degraded ??= "trail's audit rules were missing (rules flushed, or auditd restarted)";
          for (const w of repair.add) await ctl.addWatch(w.path, w.perms, w.key).catch(() => undefined);
          this.sayExecLocked(await ctl.addExecRules().catch(() => []));
        }
      }
    } catch (err) {
      degraded = `audit status unreadable: ${(err as Error).message}`;
    }
    // Locked and without the barrier's rule: no window can be trusted, and this says why.
    degraded = this.lockedMissing.get(ctl.SYNC_KEY) ?? degraded;
    if (degraded && degraded !== this.lastReason) this.opts.notice?.(`attribution degraded: ${degraded}`);
    else if (!degraded && this.lastReason) this.opts.notice?.('attribution works again');
    this.lastReason = degraded;
    const key = ctl.watchKey(name);
    // Blinded since the last window: who did it is the better reason, so it goes first.
    const blind = this.blinded.get(key);
    this.blinded.delete(key);
    if (blind) degraded = blind;
    const registered = this.registered.get(key);
    this.registered.delete(key);
    // This directory's own rule missing under a locked kernel: said once when found (above,
    // or by addDir), not on every window of every directory.
    degraded ??= this.lockedMissing.get(key);
    this.prune(key);
    const mine = this.events.filter((e) => e.key === key);
    // Shown to a window whose reconcile began well after the syscall: the change it
    // announced was there to be seen (a write right after an open, by a process that ended).
    for (const e of mine) if (scanStart - e.time > SETTLE_MS) this.considered.add(e.id);
    return {
      events: mine,
      degraded,
      lostRecords: lost,
      lossAt: this.lossAt,
      registered,
      rewritten: (ses) => this.logins.why(ses),
    };
  }

  /** Events whose changes were committed are done with. */
  consume(ids: Iterable<string>): void {
    const done = new Set(ids);
    if (!done.size) return;
    this.events = this.events.filter((e) => !done.has(e.id));
    for (const id of done) this.considered.delete(id);
  }

  /** Events of changes put off to a later window (an apt transaction still running). */
  hold(ids: Iterable<string>): void {
    for (const id of ids) this.considered.delete(id);
  }

  /** The reason of the last window, for `trail status`/doctor. */
  get degradedReason(): string | undefined {
    return this.lastReason;
  }

  /** The serial of the last audit record this feed handled (a checkpoint records it, so that
   * a jump in serials between two checkpoints shows records nobody read); null before any. */
  get lastSerial(): number | null {
    return this.lastSerialSeen;
  }

  /** Audit configuration changes made from login sessions since the feed started: the count,
   * and the logins of those after the first `since` (a checkpoint reports what is new). */
  configChanges(since = 0): { count: number; logins: string[] } {
    const kept = this.configLogins.length;
    const fromKept = Math.max(0, kept - (this.configChangeCount - since));
    return { count: this.configChangeCount, logins: [...new Set(this.configLogins.slice(fromKept))].sort() };
  }

  /** Login uids rewritten, and auditd restarts that dropped records, since the feed started
   * (a checkpoint reports what is new). */
  attributionLosses(): { loginRewrites: number; auditdRestarts: number } {
    return { loginRewrites: this.loginRewriteCount, auditdRestarts: this.auditdRestartCount };
  }

  /** Handles the waiting CONFIG_CHANGE and LOGIN records: those of `syscall`'s event with
   * its fields; with none, all of them (a window: whatever was to come has come). */
  private flushAux(syscall?: AuditRecord): void {
    const mine = syscall ? this.aux.filter((a) => a.id === syscall.id) : this.aux;
    this.aux = syscall ? this.aux.filter((a) => a.id !== syscall.id) : [];
    for (const a of mine) {
      if (a.type === 'CONFIG_CHANGE') this.onConfigChange(a, syscall?.fields);
      else {
        const got = this.logins.record(a.fields, syscall?.fields);
        if (got?.rewrite) this.loginRewriteCount++;
        if (got) this.opts.loginRewritten?.(got.what);
      }
    }
  }

  private onConfigChange(r: AuditRecord, syscall?: Map<string, string>): void {
    const f = r.fields;
    if (f.get('op') === 'remove_rule' && f.get('key')?.startsWith(ctl.KEY_PREFIX)) this.rulesSuspect = true;
    const blinded = this.blindedBy(r, syscall);
    // One that blinds attribution is said and counted whoever sent it: without a login session
    // too (systemd-run, a cleared login uid), where other changes are left out.
    const change =
      configChangeOf(f, this.session) ??
      (blinded ? { ...describeChange(f), login: NO_LOGIN, auid: undefined, refused: false } : undefined);
    if (!change) return;
    this.configChangeCount++;
    this.configLogins.push(change.login);
    if (this.configLogins.length > CONFIG_CHANGES_KEPT) this.configLogins.shift();
    this.opts.configChanged?.(change);
  }

  /**
   * A new auditd started (pid) and its first kernel record came (at): before that no process
   * received records, and a kernel not booted with audit=1 drops them without counting them
   * lost. So a change made before this moment (auditd killed, a change, auditd started again,
   * all between two windows) has no record, and nothing else says so.
   */
  private noteRegistration(pid: number, at: number): void {
    if (kernelHoldsRecords()) return;
    this.auditdRestartCount++;
    const reg = {
      at,
      why: `auditd pid ${pid} began receiving audit records at ${new Date(at).toISOString()}; records of changes made before, while no auditd received them, were dropped uncounted (the kernel keeps them only when booted with audit=1)`,
    };
    for (const key of this.dirs.keys()) this.registered.set(key, reg);
  }

  /**
   * Someone else turned audit off (`auditctl -e 0`) or removed one of this feed's directory
   * rules: what changed meanwhile left no record, even if audit (or the rule) is back by the
   * window, which then cannot tell. The next window of each directory it blinded says so,
   * naming who, rather than "no audit record names these paths". trail's own auditctl runs
   * (its children) and refused requests blind nothing.
   */
  private blindedBy(r: AuditRecord, syscall?: Map<string, string>): boolean {
    const f = r.fields;
    if (f.get('res') !== '1' || Number(syscall?.get('ppid')) === process.pid) return false;
    const key = f.get('key') ?? '';
    const keys =
      f.get('op') === 'set' && f.get('audit_enabled') === '0'
        ? [...this.dirs.keys()]
        : f.get('op') === 'remove_rule' && this.dirs.has(key)
          ? [key]
          : [];
    if (!keys.length) return false;
    const auid = Number(f.get('auid'));
    const by = validAuid(auid)
      ? `${userName(auid) ?? `auid${auid}`} (login uid ${auid})`
      : `a process without a login session`;
    const proc = syscall ? `, pid ${syscall.get('pid')} (${syscall.get('exe') ?? '?'}),` : '';
    const what =
      f.get('op') === 'set' ? 'turned kernel audit off (auditctl -e 0)' : `removed trail's audit rule (key ${key})`;
    const why = `${by}${proc} ${what} at ${new Date(r.time).toISOString()}: changes made meanwhile left no audit record`;
    for (const k of keys) this.blinded.set(k, why);
    return true;
  }

  private onEvent(e: AuditEvent): void {
    this.lastSerialSeen = e.serial;
    if (e.key === ctl.SYNC_KEY) {
      if (e.pid !== process.pid) return;
      this.seen++;
      const ready = this.waiters.filter((w) => w.target <= this.seen);
      this.waiters = this.waiters.filter((w) => w.target > this.seen);
      for (const w of ready) w.resolve(true);
      return;
    }
    if (e.key === ctl.EXEC_KEY || !e.success) return;
    if (e.key.startsWith(`${ctl.KEY_PREFIX}access-`)) {
      if (this.reads.length < 100_000) this.reads.push(e);
      return;
    }
    if (!this.dirs.has(e.key)) return;
    this.events.push(e);
    if (e.pid !== process.pid) this.noticeWrite(e);
  }

  /**
   * Tells `fn` of what inotify may never report about directory `name`'s files, as audit
   * sees it happen: a hard link made to one (a link made outside the tree, or in an ignored
   * folder, is written through without a word to the folder watches, and making it tells
   * only the inode's own watchers), and one opened for writing (a write through a shared
   * mapping, mmap, makes no inotify event at all). Paths are relative; trail's own opens are
   * left out. Returns the way to stop.
   */
  onWrite(name: string, fn: (w: WriteSeen) => void): () => void {
    const key = ctl.watchKey(name);
    this.writeListeners.set(key, fn);
    return () => {
      if (this.writeListeners.get(key) === fn) this.writeListeners.delete(key);
    };
  }

  private noticeWrite(e: AuditEvent): void {
    const link = !!LINKS[e.arch]?.includes(e.syscall);
    if (!link && !OPENS[e.arch]?.includes(e.syscall)) return;
    const dirText = this.dirs.get(e.key);
    const fn = this.writeListeners.get(e.key);
    if (dirText === undefined || !fn) return;
    const dir = toBytes(dirText); // names in records are bytes, as trail's paths are
    // The file: for a link, the existing name it was made to; for an open, the name opened
    // (made anew, or not). A name relative to a directory fd has no absolute form here: the
    // next whole scan finds that one.
    const item = e.items.find(
      (i) => (i.nametype === 'NORMAL' || (!link && i.nametype === 'CREATE')) && i.abs?.startsWith(dir + '/'),
    );
    if (!item?.abs) return;
    // A link's new name, when it is in the tree (its folder's watch hears what is written
    // through it).
    const to = link ? e.items.find((i) => i.nametype === 'CREATE' && i.abs?.startsWith(dir + '/'))?.abs : undefined;
    fn({ path: item.abs.slice(dir.length + 1), pid: e.pid, link, ...(to ? { to: to.slice(dir.length + 1) } : {}) });
  }

  /** Adds a rule (unless there) and notes that this process relies on it. */
  private async useRule(path: string, perms: string, key: string): Promise<'added' | 'present'> {
    this.users.claim(ctl.watchLine(path, perms, key));
    return ctl.addWatch(path, perms, key);
  }

  /** Removes a rule unless another trail watch still relies on it, or audit is locked (the
   * kernel would refuse, and audit the refusal: lockedForRemoval said so once). */
  private async dropRule(path: string, perms: string, key: string, locked = false): Promise<void> {
    const others = this.users.release(ctl.watchLine(path, perms, key));
    if (others.length)
      this.opts.notice?.(
        `audit rule left in place for trail watch pid ${others.join(', ')}: ${ctl.watchLine(path, perms, key)}`,
      );
    else if (!locked) await ctl.removeWatch(path, perms, key);
  }

  /** Whether audit is locked, asked once before removing `n` rules; says so when it is. */
  private async lockedForRemoval(n: number): Promise<boolean> {
    if (!n) return false;
    const s = await ctl.status().catch(() => undefined);
    if (!s || !ctl.isLocked(s)) return false;
    this.opts.notice?.(
      `audit rules are locked (auditctl -e 2) until reboot: trail's ${n} audit rule(s) stay in the kernel, not removed`,
    );
    return true;
  }

  private sayExecLocked(arches: string[]): void {
    if (!arches.length || this.execLockedSaid) return;
    this.execLockedSaid = true;
    this.opts.notice?.(
      `audit rules are locked (auditctl -e 2) until reboot and trail's execve rule (${arches.join(', ')}) is missing: changes are still attributed, without the full command line of programs it would have covered`,
    );
  }

  /** auditd as last seen: still the same process, and running (a killed one can stay a
   * zombie, comm and all)? */
  private auditdAlive(): boolean {
    if (!this.auditdPid || !pidAlive(this.auditdPid)) return false;
    try {
      return readFileSync(`/proc/${this.auditdPid}/comm`, 'latin1').trim() === 'auditd';
    } catch {
      return false;
    }
  }

  /** A writer can change a file long after its open was recorded, but only while it runs. */
  private prune(key: string): void {
    const now = Date.now();
    this.events = this.events.filter((e) => {
      if (e.key !== key || !this.considered.has(e.id)) return true;
      const keep = now - e.time < HOLD_MS && stillRuns(e);
      if (!keep) this.considered.delete(e.id);
      return keep;
    });
  }
}

/**
 * The repair of trail's missing rules, decided: unlocked, every missing rule is added again;
 * locked (`auditctl -e 2`), none can be, and each is named with why (lockedMissingReason),
 * so that what it covers says "unknown" until reboot. Rules that are back are forgotten.
 */
export function lockedRepair<T extends { path: string; key: string }>(
  missing: T[],
  locked: boolean,
  before: ReadonlyMap<string, string>,
): { add: T[]; lockedMissing: Map<string, string>; newlyLocked: [string, string][] } {
  if (!locked) return { add: missing, lockedMissing: new Map(), newlyLocked: [] };
  const lockedMissing = new Map(missing.map((m) => [m.key, ctl.lockedMissingReason(m.path)] as [string, string]));
  const newlyLocked = [...lockedMissing].filter(([key]) => !before.has(key));
  return { add: [], lockedMissing, newlyLocked };
}

// link and linkat on x86_64, linkat on aarch64 (which has no link).
const LINKS: Record<string, number[]> = { c000003e: [86, 265], c00000b7: [37] };
// open, creat, openat, open_by_handle_at, openat2 on x86_64; openat, open_by_handle_at,
// openat2 on aarch64. Under trail's rule (`-p wa`) audit logs only opens for writing.
const OPENS: Record<string, number[]> = { c000003e: [2, 85, 257, 304, 437], c00000b7: [56, 265, 437] };

/** A hard link made to a file of a watched directory, or the file opened for writing. */
export interface WriteSeen {
  path: string;
  pid: number;
  link: boolean;
  /** A link's new name, when it is in the directory. */
  to?: string;
}

/** Booted with audit=1, the kernel holds records while no auditd runs (and counts the ones it
 * cannot hold as lost); otherwise it prints them to the console and drops them. */
function kernelHoldsRecords(): boolean {
  try {
    return /(^|\s)audit=1(\s|$)/.test(readFileSync('/proc/cmdline', 'latin1'));
  } catch {
    return false;
  }
}

function stillRuns(e: AuditEvent): boolean {
  try {
    return readlinkSync(`/proc/${e.pid}/exe`, { encoding: 'latin1' }) === e.exe;
  } catch {
    return false;
  }
}
