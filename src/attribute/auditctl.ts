import { readFileSync } from 'node:fs';
import { run } from '../util/exec.js';
import { pidAlive } from '../util/pid.js';

/**
 * trail's audit rules, through auditctl with argument arrays. trail adds and removes only
 * rules it can name exactly (its own key, its own directory), so that rules set by others
 * (a STIG baseline, auditd's own rules.d) are never touched.
 */
export const KEY_PREFIX = 'trail-';
/** Full argv and the parent of every program run in a login session. */
export const EXEC_KEY = 'trail-exec';
/** The barrier file's key (see audit-feed.ts). */
export const SYNC_KEY = 'trail-sync';

export interface AuditStatus {
  enabled: number;
  failure: number;
  /** auditd's pid; 0 = no daemon receives the records. */
  pid: number;
  /** The pid the kernel still names as its audit daemon although that process has exited
   * (killed with SIGKILL, crashed): the kernel notices only when its next record cannot be
   * delivered, so until then `auditctl -s` shows a pid while every record is lost. */
  deadPid?: number;
  backlogLimit: number;
  lost: number;
  backlog: number;
  backlogWaitTime: number;
}

export async function auditctl(args: string[], okCodes = [0]): Promise<{ code: number; out: string; err: string }> {
  const r = await run('auditctl', args, { okCodes });
  return { code: r.code, out: r.stdout.toString('utf8'), err: r.stderr };
}

/** What runs `auditctl -s`, asked once per window of trail watch (see spawner.ts). */
let statusRunner: typeof run = run;

export function runStatusWith(r: typeof run | undefined): void {
  statusRunner = r ?? run;
}

/** A hang guard for `auditctl -s`, which answers in milliseconds where it can answer at all. */
export const STATUS_DEADLINE_MS = 10_000;
/** Set once the kernel's audit proved out of reach for this process: asking again would cost
 * the same wait each time (auditctl waits 8 s for a netlink answer that never comes). */
let unreachable: string | undefined;

/** The kernel answers audit requests only from the initial user namespace (kernel/audit.c,
 * audit_netlink_ok: ECONNREFUSED elsewhere), whatever the capabilities: in a container or an
 * `unshare --user` namespace, `auditctl -s` waits 8 s, prints nothing and exits 0. */
export function outOfReach(uidMap = readUidMap()): string | undefined {
  if (uidMap === undefined) return undefined;
  const [inside, outside, count] = uidMap.trim().split(/\s+/);
  if (inside === '0' && outside === '0' && count === '4294967295') return undefined;
  return "the kernel's audit can be asked only from the host's initial user namespace, and this is a user namespace of its own (a container or unshare --user)";
}

function readUidMap(): string | undefined {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return undefined;
  }
}

export async function status(): Promise<AuditStatus> {
  unreachable ??= outOfReach();
  if (unreachable) throw new Error(unreachable);
  let deadline: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    deadline = setTimeout(
      () => reject(new Error(`auditctl -s did not answer within ${STATUS_DEADLINE_MS / 1000} s`)),
      STATUS_DEADLINE_MS,
    );
  });
  let out: string;
  try {
    // Raced, not only passed on: the daemon's long-lived spawner shell cannot kill one program.
    out = (
      await Promise.race([statusRunner('auditctl', ['-s'], { timeoutMs: STATUS_DEADLINE_MS }), late])
    ).stdout.toString('utf8');
  } finally {
    clearTimeout(deadline);
  }
  // Zeros made up from an empty answer would say "audit off, nothing lost": unknown instead.
  if (!/^enabled \d+/m.test(out)) {
    unreachable = "the kernel's audit cannot be asked here: auditctl -s printed no status";
    throw new Error(unreachable);
  }
  const s = parseStatus(out);
  if (s.pid && !pidAlive(s.pid)) return { ...s, pid: 0, deadPid: s.pid };
  return s;
}

/** Why no auditd receives records, in the words of every place that says so. */
export function notRunning(s: Pick<AuditStatus, 'deadPid'>): string {
  return s.deadPid
    ? `auditd is not running: pid ${s.deadPid}, which the kernel still names as its audit daemon, has exited (killed or crashed)`
    : 'auditd is not running';
}

/** `auditctl -s` as text → its numbers (absent fields are 0). */
export function parseStatus(out: string): AuditStatus {
  const f = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^(\S+) (\d+)/.exec(line.trim());
    if (m) f.set(m[1]!, Number(m[2]));
  }
  return {
    enabled: f.get('enabled') ?? 0,
    failure: f.get('failure') ?? 0,
    pid: f.get('pid') ?? 0,
    backlogLimit: f.get('backlog_limit') ?? 0,
    lost: f.get('lost') ?? 0,
    backlog: f.get('backlog') ?? 0,
    backlogWaitTime: f.get('backlog_wait_time') ?? 0,
  };
}

/** `enabled 2`: the audit configuration is locked (`auditctl -e 2`) until the next boot. */
export const LOCKED = 2;

export function isLocked(s: Pick<AuditStatus, 'enabled'>): boolean {
  return s.enabled === LOCKED;
}

/** Why trail has no rule for `path` and cannot get one: the one message for every place a
 * locked kernel stops trail (its log, the unknown commits' Trail-Actor, doctor). */
export function lockedMissingReason(path: string): string {
  return `audit rules are locked (auditctl -e 2) until reboot and trail's rule for ${path} is missing`;
}

/** A rule trail needs is missing and the kernel refuses new rules until reboot. */
export class AuditLockedError extends Error {
  constructor(readonly path: string) {
    super(lockedMissingReason(path));
  }
}

export async function version(): Promise<string | undefined> {
  try {
    const { out } = await auditctl(['-v']);
    return /version\s+(\S+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** `auditctl -l` as text → one rule per line ("No rules" is none). */
export function parseRules(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'No rules');
}

/** The rules as `auditctl -l` prints them, one per line. */
export async function listRules(): Promise<string[]> {
  return parseRules((await auditctl(['-l'])).out);
}

export function watchKey(name: string): string {
  return `${KEY_PREFIX}${name}`;
}

/** The `auditctl -l` form of a watch rule, to find it again. */
export function watchLine(dir: string, perms: string, key: string): string {
  return `-w ${dir} -p ${perms} -k ${key}`;
}

const EXEC_RULES = ['b64', 'b32'].map((arch) => [
  'always,exit',
  '-F',
  `arch=${arch}`,
  '-S',
  'execve',
  '-F',
  'auid!=4294967295',
  '-k',
  EXEC_KEY,
]);

/**
 * When the kernel's audit configuration is locked (`auditctl -e 2`, see lockAudit), every
 * write below is refused until reboot, and each refused attempt is itself audited as a
 * configuration change (CONFIG_CHANGE res=0), which reads like an attempt to tamper. So
 * trail looks first (`auditctl -l`, `auditctl -s`) and never tries a write a locked kernel
 * refuses: a rule that is there is used, one that is missing is reported (AuditLockedError,
 * lockedMissingReason) and attribution for what it covers says "unknown" with that reason.
 */

/** Which of these watch rules `auditctl -l` (as lines) does not list. */
export function missingWatches<T extends { path: string; perms: string; key: string }>(
  wanted: T[],
  listed: string[],
): T[] {
  const have = new Set(listed);
  return wanted.filter((w) => !have.has(watchLine(w.path, w.perms, w.key)));
}

/** The arches (arch=b64, arch=b32) whose execve rule `auditctl -l` does not list. */
export function missingExecArches(listed: string[]): string[] {
  const have = listed.filter((l) => l.includes(`key=${EXEC_KEY}`));
  return EXEC_RULES.map((r) => r[2]!).filter((arch) => !have.some((l) => l.includes(arch)));
}

/** Adds a watch unless it is there already (auditctl refuses duplicates: "Rule exists").
 * Throws AuditLockedError, without trying, when it is missing and audit is locked. */
export async function addWatch(dir: string, perms: string, key: string): Promise<'added' | 'present'> {
  if ((await listRules()).includes(watchLine(dir, perms, key))) return 'present';
  if (isLocked(await status())) throw new AuditLockedError(dir);
  try {
    await auditctl(['-w', dir, '-p', perms, '-k', key]);
  } catch (err) {
    // Another trail process may have added it between the look and the add, or locked audit.
    if ((await listRules()).includes(watchLine(dir, perms, key))) return 'present';
    if (isLocked(await status())) throw new AuditLockedError(dir);
    throw err;
  }
  return 'added';
}

/** Removes a watch. The caller checks the lock first (once for many rules: see AuditFeed);
 * a locked kernel refuses it anyway, which auditctl's exit code only says as "not removed". */
export async function removeWatch(dir: string, perms: string, key: string): Promise<boolean> {
  const r = await auditctl(['-W', dir, '-p', perms, '-k', key], [0, 255, 1]);
  return r.code === 0;
}

/** Adds the execve rules that are missing; the arches left without one because audit is
 * locked (empty: all there). */
export async function addExecRules(): Promise<string[]> {
  const missing = missingExecArches(await listRules());
  if (!missing.length) return [];
  if (isLocked(await status())) return missing;
  for (const rule of EXEC_RULES) {
    if (!missing.includes(rule[2]!)) continue;
    // A 64-bit-only kernel refuses b32 rules: full argv of 32-bit programs is then missing.
    await auditctl(['-a', ...rule], [0, 255, 1]);
  }
  return [];
}

/** Removes the execve rules once no other trail watch rule is left (another trail watch
 * process may still rely on them); never tries while audit is locked. A barrier (sync) rule
 * counts: the caller has dropped its own, so one left belongs to a trail watch that is
 * starting (it adds its barrier and the execve rules before its directories' rules). Left
 * out, a daemon that stopped in that window took the execve rules from one that started. */
export async function removeExecRulesIfUnused(): Promise<boolean> {
  const rules = await listRules();
  const others = rules.some((l) => / -k trail-|key=trail-/.test(l) && !l.includes(EXEC_KEY));
  if (others) return false;
  if (isLocked(await status())) return false;
  for (const rule of EXEC_RULES) await auditctl(['-d', ...rule], [0, 255, 1]);
  return true;
}

/** Turns audit on (`-e 1`) when it is off; never touches a locked (-e 2) configuration. */
export async function enable(): Promise<boolean> {
  const s = await status();
  if (s.enabled !== 0) return false;
  await auditctl(['-e', '1']);
  return true;
}

/** Raises the kernel's record queue: 64, a common default, overflows in a burst of writes
 * and every overflow is a lost record (then the window is "unknown"). Says what it was, and
 * whether it stayed so because audit is locked (`-b` is refused then too). */
export async function ensureBacklog(limit: number): Promise<{ from: number; locked: boolean } | undefined> {
  const s = await status();
  if (s.backlogLimit >= limit) return undefined;
  if (isLocked(s)) return { from: s.backlogLimit, locked: true };
  await auditctl(['-b', String(limit)]);
  return { from: s.backlogLimit, locked: false };
}

/** Locks the audit configuration until reboot (`auditctl -e 2`): no rule can be added or
 * removed any more, by anyone, trail included; nor can audit be turned off (`-e 0`). */
export async function lock(): Promise<'locked' | 'already'> {
  if (isLocked(await status())) return 'already';
  await auditctl(['-e', String(LOCKED)]);
  return 'locked';
}

export async function available(): Promise<{ ok: boolean; why?: string }> {
  if (process.platform !== 'linux') return { ok: false, why: 'not Linux: no kernel audit' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root: audit rules need root' };
  try {
    await status();
  } catch (err) {
    const msg = (err as Error).message;
    if (/ENOENT/.test(msg)) return { ok: false, why: 'auditctl is not installed (apt-get install auditd)' };
    return { ok: false, why: `the kernel audit subsystem cannot be used here (${msg.trim()})` };
  }
  return { ok: true };
}
