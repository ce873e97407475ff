import { CONFIG_LOGINS_MAX, type AuditState } from '../record/checkpoint/checkpoint-format.js';
import { status } from './auditctl.js';

/**
 * The audit state a checkpoint records: `auditctl -s` (enabled 0/1/2, the kernel's lost
 * counter, the current backlog) and `lastSerial`, the serial of the last audit record trail
 * handled, and `config`, the audit configuration changes from login sessions since the last
 * checkpoint, which only the caller knows (trail watch's feed; null without one), and `losses`,
 * the login uids rewritten and auditd restarts that dropped records since then, likewise. Where
 * `auditctl -s` cannot be asked (not root, no auditd package, not Linux) the fields are null:
 * unknown, never a made-up zero.
 */
export async function auditState(
  lastSerial: number | null = null,
  config: { changes: number; logins: string[] } | null = null,
  losses: { loginRewrites: number; auditdRestarts: number } | null = null,
): Promise<AuditState> {
  const feed = {
    configChanges: config?.changes ?? null,
    configChangedBy: config ? config.logins.slice(0, CONFIG_LOGINS_MAX) : null,
    loginRewrites: losses?.loginRewrites ?? null,
    auditdRestarts: losses?.auditdRestarts ?? null,
  };
  try {
    const s = await status();
    return { enabled: s.enabled, lost: s.lost, backlog: s.backlog, lastSerial, ...feed };
  } catch {
    return { enabled: null, lost: null, backlog: null, lastSerial, ...feed };
  }
}
