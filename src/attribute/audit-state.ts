import { CONFIG_LOGINS_MAX, type AuditState } from '../record/checkpoint/checkpoint-format.js';
import { status } from './auditctl.js';

/**
 * The audit state a checkpoint records: `auditctl -s` (enabled 0/1/2, the kernel's lost
 * counter, the current backlog) and `lastSerial`, the serial of the last audit record trail
 * handled, and `config`, the audit configuration changes from login sessions since the last
 * checkpoint, which only the caller knows (trail watch's feed; null without one). Where
 * `auditctl -s` cannot be asked (not root, no auditd package, not Linux) the fields are null:
 * unknown, never a made-up zero.
 */
export async function auditState(
  lastSerial: number | null = null,
  config: { changes: number; logins: string[] } | null = null,
): Promise<AuditState> {
  const configChanges = config?.changes ?? null;
  const configChangedBy = config ? config.logins.slice(0, CONFIG_LOGINS_MAX) : null;
  try {
    const s = await status();
    return { enabled: s.enabled, lost: s.lost, backlog: s.backlog, lastSerial, configChanges, configChangedBy };
  } catch {
    return { enabled: null, lost: null, backlog: null, lastSerial, configChanges, configChangedBy };
  }
}
