import type { AuditState } from '../record/checkpoint/checkpoint-format.js';
import { status } from './auditctl.js';

/**
 * The audit state a checkpoint records: `auditctl -s` (enabled 0/1/2, the kernel's lost
 * counter, the current backlog) and `lastSerial`, the serial of the last audit record trail
 * handled, which only the caller knows (trail watch's feed; null without one). Where
 * `auditctl -s` cannot be asked (not root, no auditd package, not Linux) the fields are null:
 * unknown, never a made-up zero.
 */
export async function auditState(lastSerial: number | null = null): Promise<AuditState> {
  try {
    const s = await status();
    return { enabled: s.enabled, lost: s.lost, backlog: s.backlog, lastSerial };
  } catch {
    return { enabled: null, lost: null, backlog: null, lastSerial };
  }
}
