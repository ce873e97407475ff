// The checkpoint record, version 1, exactly as README "Formats" defines it: the commit
// message is a subject line, one blank line, then one line of JSON. Anything else is not a
// checkpoint the witness can accept (and says why). Text the host wrote reaches findings'
// words only bounded and visible: times as ISO 8601, login names clipped.
import { safeText } from '../util/bytes.js';

export const PUBLISHED_KINDS = ['observed', 'approved', 'logs', 'access', 'proofs', 'checkpoints'] as const;
export type Kind = (typeof PUBLISHED_KINDS)[number];
export const HEAD_KINDS = ['observed', 'approved', 'logs', 'access', 'proofs'] as const;

export type Reason = 'start' | 'heartbeat' | 'stop' | 'start-after-crash';
const REASONS: Reason[] = ['start', 'heartbeat', 'stop', 'start-after-crash'];

export interface AuditState {
  enabled: number | null;
  lost: number | null;
  backlog: number | null;
  lastSerial: number | null;
  /** Audit configuration changes from login sessions since the previous checkpoint (null:
   * not said; added within v1). */
  configChanges: number | null;
  configChangedBy: string[] | null;
  /** Login uids rewritten, and auditd restarts that dropped records, since the previous
   * checkpoint (null: not said; added within v1). */
  loginRewrites: number | null;
  auditdRestarts: number | null;
}

export interface CheckpointRecord {
  v: 1;
  host: string;
  name: string;
  seq: number;
  reason: Reason;
  /** host clock: informative only */
  time: string;
  boot: string | null;
  daemonStart: string | null;
  interval: number | null;
  heads: Partial<Record<(typeof HEAD_KINDS)[number], string | null>>;
  audit: AuditState | null;
  previous: { seq: number; time: string; boot: string | null; reason: string } | null;
  window: { from: string; to: string; bootChanged: boolean; auditLostDelta: number | null } | null;
}

const ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** A time from the host, as ISO 8601 UTC: Date.parse also takes free text around a date
 * ("Jan 1 2026 (planned, ignore)"), which must not reach a finding's words. '' if none. */
function hostTime(v: unknown): string {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
}

/** A login name from the host, for a finding's words: one line, visible, bounded. */
function hostName(v: string): string {
  const one = safeText(v).replace(/\s+/g, ' ').trim();
  return one.length > 64 ? one.slice(0, 63) + '…' : one;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The record in a checkpoint commit's message, or the reason it is not one. */
export function parseCheckpoint(
  message: string,
): { ok: true; record: CheckpointRecord } | { ok: false; reason: string } {
  const lines = message.replace(/\n+$/, '').split('\n');
  if (lines.length !== 3 || lines[1] !== '')
    return { ok: false, reason: 'message is not "subject, blank line, one JSON line"' };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(lines[2]!) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'the record line is not JSON' };
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    return { ok: false, reason: 'the record is not an object' };
  if (j.v !== 1) return { ok: false, reason: `unknown record version ${JSON.stringify(j.v)}` };
  if (typeof j.host !== 'string' || typeof j.name !== 'string') return { ok: false, reason: 'host or name missing' };
  if (typeof j.seq !== 'number' || !Number.isSafeInteger(j.seq) || j.seq < 0)
    return { ok: false, reason: 'seq is not a whole number' };
  if (!REASONS.includes(j.reason as Reason)) return { ok: false, reason: `unknown reason ${JSON.stringify(j.reason)}` };
  if (typeof j.time !== 'string' || Number.isNaN(Date.parse(j.time)))
    return { ok: false, reason: 'time is not a date' };
  const heads: CheckpointRecord['heads'] = {};
  const h = (j.heads ?? {}) as Record<string, unknown>;
  if (typeof h !== 'object' || h === null) return { ok: false, reason: 'heads is not an object' };
  for (const k of HEAD_KINDS) {
    const v = h[k];
    if (v === undefined || v === null) heads[k] = null;
    else if (typeof v === 'string' && ID.test(v)) heads[k] = v;
    else return { ok: false, reason: `heads.${k} is not a commit id` };
  }
  const a = j.audit as Record<string, unknown> | null | undefined;
  const audit: AuditState | null =
    a && typeof a === 'object'
      ? {
          enabled: num(a.enabled),
          lost: num(a.lost),
          backlog: num(a.backlog),
          lastSerial: num(a.lastSerial),
          configChanges: num(a.configChanges),
          configChangedBy:
            Array.isArray(a.configChangedBy) && a.configChangedBy.every((n) => typeof n === 'string')
              ? (a.configChangedBy as string[]).slice(0, 20).map(hostName)
              : null,
          loginRewrites: num(a.loginRewrites),
          auditdRestarts: num(a.auditdRestarts),
        }
      : null;
  const p = j.previous as Record<string, unknown> | null | undefined;
  const previous =
    p && typeof p === 'object'
      ? {
          seq: num(p.seq) ?? -1,
          time: hostTime(p.time),
          boot: typeof p.boot === 'string' ? p.boot : null,
          reason: String(p.reason ?? ''),
        }
      : null;
  const w = j.window as Record<string, unknown> | null | undefined;
  const window =
    w && typeof w === 'object'
      ? {
          from: hostTime(w.from),
          to: hostTime(w.to),
          bootChanged: w.bootChanged === true,
          auditLostDelta: num(w.auditLostDelta),
        }
      : null;
  return {
    ok: true,
    record: {
      v: 1,
      host: j.host,
      name: j.name,
      seq: j.seq,
      reason: j.reason as Reason,
      time: hostTime(j.time),
      boot: typeof j.boot === 'string' ? j.boot : null,
      daemonStart: hostTime(j.daemonStart) || null,
      interval: num(j.interval),
      heads,
      audit,
      previous,
      window,
    },
  };
}
