// The checkpoint record, version 1: README "Formats → Checkpoints" is the specification and a
// witness off the host parses the same text. A commit message is a subject line for people,
// one blank line, and exactly one line of JSON; nothing else.

export const CHECKPOINT_VERSION = 1;

export const CHECKPOINT_REASONS = ['start', 'heartbeat', 'stop', 'start-after-crash'] as const;
export type CheckpointReason = (typeof CHECKPOINT_REASONS)[number];

/** Linux audit as `auditctl -s` saw it, plus the last record serial trail handled; null
 * where unknown. Filled by the caller (src/attribute/audit-state.ts): the record layer knows
 * nothing of audit. */
export interface AuditState {
  /** 0 off, 1 on, 2 on and locked */
  enabled: number | null;
  lost: number | null;
  backlog: number | null;
  lastSerial: number | null;
  /** Audit configuration changes made from a login session (auditctl run by someone; the
   * kernel's CONFIG_CHANGE records with a login uid, refused ones included) that trail watch
   * read since its previous checkpoint; null without a feed (and in older checkpoints). */
  configChanges: number | null;
  /** The login names of those changes, sorted, each once (at most CONFIG_LOGINS_MAX). */
  configChangedBy: string[] | null;
  /** Login uids rewritten (not set by a login: a process posing as another user) that trail
   * watch read since its previous checkpoint; null without a feed (and in older ones). */
  loginRewrites: number | null;
  /** Times auditd started again while the kernel dropped, uncounted, the records no auditd
   * received (not booted with audit=1), since the previous checkpoint; null likewise. */
  auditdRestarts: number | null;
}

export const CONFIG_LOGINS_MAX = 20;

/** The published heads a checkpoint names (null: no such branch yet). */
export interface CheckpointHeads {
  observed: string | null;
  approved: string | null;
  logs: string | null;
  access: string | null;
  proofs: string | null;
}

export interface CheckpointRecord {
  v: 1;
  host: string;
  name: string;
  seq: number;
  reason: CheckpointReason;
  /** ISO 8601 UTC, the host's clock (informative only). */
  time: string;
  boot: string | null;
  /** When this trail watch started; null when no daemon wrote it (`trail checkpoint`). */
  daemonStart: string | null;
  /** remote.checkpointSeconds; null when there is no cadence (`trail checkpoint` by hand). */
  interval: number | null;
  heads: CheckpointHeads;
  audit: AuditState;
  previous: { seq: number; time: string; boot: string | null; reason: CheckpointReason } | null;
  window: { from: string; to: string; bootChanged: boolean | null; auditLostDelta: number | null } | null;
}

export const HEAD_NAMES = ['observed', 'approved', 'logs', 'access', 'proofs'] as const;

export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

/** The commit message of a checkpoint. The JSON keys are written in the README's order. */
export function checkpointMessage(r: CheckpointRecord): string {
  const ordered: CheckpointRecord = {
    v: r.v,
    host: r.host,
    name: r.name,
    seq: r.seq,
    reason: r.reason,
    time: r.time,
    boot: r.boot,
    daemonStart: r.daemonStart,
    interval: r.interval,
    heads: {
      observed: r.heads.observed,
      approved: r.heads.approved,
      logs: r.heads.logs,
      access: r.heads.access,
      proofs: r.heads.proofs,
    },
    audit: {
      enabled: r.audit.enabled,
      lost: r.audit.lost,
      backlog: r.audit.backlog,
      lastSerial: r.audit.lastSerial,
      configChanges: r.audit.configChanges,
      configChangedBy: r.audit.configChangedBy,
      loginRewrites: r.audit.loginRewrites,
      auditdRestarts: r.audit.auditdRestarts,
    },
    previous: r.previous && {
      seq: r.previous.seq,
      time: r.previous.time,
      boot: r.previous.boot,
      reason: r.previous.reason,
    },
    window: r.window && {
      from: r.window.from,
      to: r.window.to,
      bootChanged: r.window.bootChanged,
      auditLostDelta: r.window.auditLostDelta,
    },
  };
  // JSON.stringify escapes control characters, so the record stays one line whatever it holds.
  return `trail checkpoint ${r.seq}: ${r.reason}\n\n${JSON.stringify(ordered)}\n`;
}

const OID = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
const REF_COMPONENT = /^[A-Za-z0-9._-]+$/;

function fail(why: string): never {
  throw new CheckpointFormatError(`not a version 1 checkpoint: ${why}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function count(x: unknown, what: string, nullable: true): number | null;
function count(x: unknown, what: string, nullable?: false): number;
function count(x: unknown, what: string, nullable = false): number | null {
  if (x === null && nullable) return null;
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`${what} is not a count`);
  return x;
}

function time(x: unknown, what: string): string {
  if (typeof x !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(x) || isNaN(Date.parse(x)))
    fail(`${what} is not an ISO 8601 UTC time`);
  return x;
}

function reason(x: unknown, what: string): CheckpointReason {
  if (!(CHECKPOINT_REASONS as readonly unknown[]).includes(x)) fail(`${what} is not a known reason`);
  return x as CheckpointReason;
}

function logins(x: unknown, what: string): string[] | null {
  if (x === null) return null;
  if (!Array.isArray(x) || x.length > CONFIG_LOGINS_MAX || !x.every((n) => typeof n === 'string' && n.length <= 64))
    fail(`${what} is not a list of login names`);
  return x as string[];
}

function nullableString(x: unknown, what: string): string | null {
  if (x !== null && typeof x !== 'string') fail(`${what} is neither a string nor null`);
  return x as string | null;
}

/**
 * Parses and checks a checkpoint commit's message (the text after the commit's headers).
 * Throws CheckpointFormatError saying what is wrong. Fields a later version adds within v1
 * (new keys) are ignored; a changed meaning gets a new `v` and is refused here.
 */
export function parseCheckpointMessage(message: string): CheckpointRecord {
  const lines = message.replace(/\n$/, '').split('\n');
  if (lines.length !== 3 || lines[1] !== '') fail('the message is not a subject, a blank line and one JSON line');
  let j: unknown;
  try {
    j = JSON.parse(lines[2]!);
  } catch {
    fail('the record is not JSON');
  }
  if (!isObject(j)) fail('the record is not a JSON object');
  if (j.v !== CHECKPOINT_VERSION) fail(`version ${JSON.stringify(j.v)}`);
  if (typeof j.host !== 'string' || !REF_COMPONENT.test(j.host)) fail('host is not a ref component');
  if (typeof j.name !== 'string' || !REF_COMPONENT.test(j.name)) fail('name is not a ref component');
  const seq = count(j.seq, 'seq');
  if (seq < 1) fail('seq is below 1');
  const heads = j.heads;
  if (!isObject(heads)) fail('heads is not an object');
  const h = {} as CheckpointHeads;
  for (const k of HEAD_NAMES) {
    const v = heads[k];
    if (v !== null && (typeof v !== 'string' || !OID.test(v))) fail(`heads.${k} is neither a commit id nor null`);
    h[k] = v as string | null;
  }
  const audit = j.audit;
  if (!isObject(audit)) fail('audit is not an object');
  const a: AuditState = {
    enabled: count(audit.enabled, 'audit.enabled', true),
    lost: count(audit.lost, 'audit.lost', true),
    backlog: count(audit.backlog, 'audit.backlog', true),
    lastSerial: count(audit.lastSerial, 'audit.lastSerial', true),
    // Added within v1: absent in older checkpoints, which said nothing of them.
    configChanges: count(audit.configChanges ?? null, 'audit.configChanges', true),
    configChangedBy: logins(audit.configChangedBy ?? null, 'audit.configChangedBy'),
    loginRewrites: count(audit.loginRewrites ?? null, 'audit.loginRewrites', true),
    auditdRestarts: count(audit.auditdRestarts ?? null, 'audit.auditdRestarts', true),
  };
  let previous: CheckpointRecord['previous'] = null;
  if (j.previous !== null) {
    const p = j.previous;
    if (!isObject(p)) fail('previous is neither an object nor null');
    previous = {
      seq: count(p.seq, 'previous.seq'),
      time: time(p.time, 'previous.time'),
      boot: nullableString(p.boot, 'previous.boot'),
      reason: reason(p.reason, 'previous.reason'),
    };
    if (previous.seq >= seq) fail('previous.seq is not below seq');
  }
  let window: CheckpointRecord['window'] = null;
  if (j.window !== null) {
    const w = j.window;
    if (!isObject(w)) fail('window is neither an object nor null');
    if (w.bootChanged !== null && typeof w.bootChanged !== 'boolean') fail('window.bootChanged is not a boolean');
    window = {
      from: time(w.from, 'window.from'),
      to: time(w.to, 'window.to'),
      bootChanged: w.bootChanged as boolean | null,
      auditLostDelta: count(w.auditLostDelta, 'window.auditLostDelta', true),
    };
  }
  const r: CheckpointRecord = {
    v: 1,
    host: j.host,
    name: j.name,
    seq,
    reason: reason(j.reason, 'reason'),
    time: time(j.time, 'time'),
    boot: nullableString(j.boot, 'boot'),
    daemonStart: j.daemonStart === null ? null : time(j.daemonStart, 'daemonStart'),
    interval: count(j.interval, 'interval', true),
    heads: h,
    audit: a,
    previous,
    window,
  };
  if ((r.reason === 'start-after-crash') !== (window !== null))
    fail('a window belongs to start-after-crash, and only there');
  if (lines[0] !== `trail checkpoint ${seq}: ${r.reason}`) fail('the subject does not match the record');
  return r;
}

/** The message of a commit object (everything after its headers). */
export function commitMessageOf(object: Buffer): string {
  const eoh = object.indexOf('\n\n');
  return eoh < 0 ? '' : object.subarray(eoh + 2).toString('utf8');
}
