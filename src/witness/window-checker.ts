// Check 4: unmonitored windows, from what consecutive checkpoints say about the host: a
// start after an unclean stop (the daemon was killed: the span from its last checkpoint to the
// restart was not watched, even if the disk shows no difference — a file changed and changed
// back leaves none), a changed boot id (a reboot), a growing audit "lost" counter (the kernel
// dropped audit records: changes without a known author), a drop of audit to disabled, an
// audit serial going back within one boot (audit was reset), and audit configuration changed
// (or tried) from someone's login session.
import type { CheckpointRecord } from './checkpoint-record.js';
import type { NewFinding } from './findings.js';
import type { Where } from './ancestry-checker.js';

export interface Prior {
  id: string;
  seq: number;
  reason: string;
  time: string;
  boot: string | null;
  audit: CheckpointRecord['audit'];
}

export function windowFindings(
  w: Where,
  ref: string,
  prev: Prior | undefined,
  id: string,
  r: CheckpointRecord,
): NewFinding[] {
  const out: NewFinding[] = [];
  const base = { severity: 'finding' as const, event: true, ...w, ref };
  const bootChanged = !!(prev?.boot && r.boot && prev.boot !== r.boot);
  if (r.reason === 'start-after-crash') {
    const from = r.window?.from || prev?.time || '';
    const to = r.window?.to || r.time;
    const lost = r.window?.auditLostDelta;
    out.push({
      key: `window|${w.repository}|${ref}|${id}`,
      kind: 'unwatched-window',
      ...base,
      commits: [id, ...(prev ? [prev.id] : [])],
      times: { windowFromHostClock: from, windowToHostClock: to },
      title: `${w.host}/${w.name} was not watched from ${from || '?'} to ${to} (daemon stopped uncleanly or paused)`,
      message:
        `Checkpoint ${r.seq} (${id}) says the daemon was killed or crashed and started again, or was paused (stopped by a signal) and went on: nothing watched the directory from ${from || 'its last checkpoint'} to ${to} (host clock)` +
        `${r.window?.bootChanged || bootChanged ? '; the host was rebooted in between' : ''}` +
        `${lost ? `; the kernel dropped ${lost} audit record(s)` : ''}. ` +
        `What changed and was changed back in that span leaves no trace on disk: treat the window as unaccounted for.`,
    });
  } else if (bootChanged) {
    const clean = prev?.reason === 'stop';
    out.push({
      key: `reboot|${w.repository}|${ref}|${id}`,
      kind: 'unwatched-window',
      ...base,
      severity: clean ? 'warning' : 'finding',
      commits: [id, prev!.id],
      times: { windowFromHostClock: prev!.time, windowToHostClock: r.time },
      title: `${w.host}/${w.name} rebooted between ${prev!.time} and ${r.time}`,
      message: clean
        ? `The boot id changed between checkpoints ${prev!.seq} and ${r.seq}: the host rebooted after trail stopped cleanly. Nothing watched it from ${prev!.time} to ${r.time} (host clock).`
        : `The boot id changed between checkpoints ${prev!.seq} ("${prev!.reason}") and ${r.seq} ("${r.reason}") without a stop or a start: the host rebooted and its checkpoints do not say so.`,
    });
  } else if (prev?.reason === 'stop' && (r.reason === 'start' || r.reason === 'heartbeat')) {
    out.push({
      key: `stopped|${w.repository}|${ref}|${id}`,
      kind: 'unwatched-window',
      ...base,
      severity: 'warning',
      commits: [id, prev.id],
      times: { windowFromHostClock: prev.time, windowToHostClock: r.time },
      title: `${w.host}/${w.name} was stopped from ${prev.time} to ${r.time}`,
      message: `The daemon stopped cleanly (checkpoint ${prev.seq}) and started again (checkpoint ${r.seq}): nothing watched the directory in between (host clock). Changes made then are recorded at the restart, without their authors.`,
    });
  }
  // What the audit counts of this checkpoint cover: since the one before, or this daemon's start.
  const from = prev?.time ?? r.daemonStart ?? '';
  const span = from ? `between ${from} and ${r.time}` : `before ${r.time}`;
  const changes = r.audit?.configChanges;
  if (changes) {
    const by = r.audit?.configChangedBy?.length ? r.audit.configChangedBy.join(', ') : 'unknown logins';
    out.push({
      key: `auditconfig|${w.repository}|${ref}|${id}`,
      kind: 'audit-config',
      ...base,
      commits: [id],
      times: { ...(from ? { fromHostClock: from } : {}), toHostClock: r.time },
      title: `${w.host}/${w.name}: the kernel's audit configuration was changed from a login session (${changes} time(s), by ${by})`,
      message: `Checkpoint ${r.seq} reports ${changes} change(s) or attempted change(s) of the kernel's audit configuration (auditctl, or another audit client) made from the login session of ${by} ${span} (host clock). Audit rules are what names the people behind changes: removing them, or switching audit off, makes later changes anonymous. If this was not planned maintenance, ask ${by} why; the host's trail watch log says what each one asked, and whether the kernel refused it (locked audit).`,
    });
  }
  const rewrites = r.audit?.loginRewrites;
  if (rewrites)
    out.push({
      key: `loginrewrite|${w.repository}|${ref}|${id}`,
      kind: 'login-rewritten',
      ...base,
      commits: [id],
      times: { ...(from ? { fromHostClock: from } : {}), toHostClock: r.time },
      title: `${w.host}/${w.name}: a process rewrote its login uid (${rewrites} time(s)): someone may have posed as another user`,
      message: `Checkpoint ${r.seq} reports ${rewrites} login uid(s) rewritten ${span} (host clock): a process with root's rights set its login uid to another user's (or cleared it and set it again), which the kernel allows unless loginuid_immutable is set. trail credits changes made in those sessions to no one ("login uid rewritten" in their commits) rather than to the user named; the host's trail watch log says which process did it (audit-login). Find out who had root on ${w.host} then.`,
    });
  const restarts = r.audit?.auditdRestarts;
  if (restarts)
    out.push({
      key: `auditdrestart|${w.repository}|${ref}|${id}`,
      kind: 'audit-lost',
      ...base,
      commits: [id],
      times: { ...(from ? { fromHostClock: from } : {}), toHostClock: r.time },
      title: `${w.host}/${w.name}: auditd was started again (${restarts} time(s)); records in between were dropped uncounted`,
      message: `Checkpoint ${r.seq} reports that auditd was started again ${restarts} time(s) ${span} (host clock). This kernel (not booted with audit=1) drops the records made while no auditd receives them without counting them lost, so changes made while auditd was down have no known author, and nothing but this says so. If auditd was not restarted on purpose, someone stopped it to act unseen.`,
    });
  const a = prev?.audit;
  const b = r.audit;
  if (a && b && !bootChanged) {
    if (a.lost !== null && b.lost !== null && b.lost > a.lost)
      out.push({
        key: `auditlost|${w.repository}|${ref}|${id}`,
        kind: 'audit-lost',
        ...base,
        commits: [id, prev!.id],
        times: { fromHostClock: prev!.time, toHostClock: r.time },
        title: `${w.host}/${w.name}: the kernel dropped ${b.lost - a.lost} audit record(s)`,
        message: `Between checkpoints ${prev!.seq} and ${r.seq} (${prev!.time} → ${r.time}, host clock) the audit lost counter grew from ${a.lost} to ${b.lost}: changes in that span may have no known author.`,
      });
    if ((a.enabled ?? 0) >= 1 && b.enabled === 0)
      out.push({
        key: `auditoff|${w.repository}|${ref}|${id}`,
        kind: 'unwatched-window',
        ...base,
        commits: [id, prev!.id],
        times: { fromHostClock: prev!.time, toHostClock: r.time },
        title: `${w.host}/${w.name}: Linux audit was switched off`,
        message: `Checkpoint ${prev!.seq} saw audit enabled, checkpoint ${r.seq} sees it disabled: from ${prev!.time} (host clock) changes have no known author.`,
      });
    if (a.lastSerial !== null && b.lastSerial !== null && b.lastSerial < a.lastSerial)
      out.push({
        key: `auditserial|${w.repository}|${ref}|${id}`,
        kind: 'unwatched-window',
        ...base,
        commits: [id, prev!.id],
        times: { fromHostClock: prev!.time, toHostClock: r.time },
        title: `${w.host}/${w.name}: audit serials went back without a reboot`,
        message: `The last audit serial handled went from ${a.lastSerial} (checkpoint ${prev!.seq}) back to ${b.lastSerial} (checkpoint ${r.seq}) within one boot: the audit subsystem was reset, and records may have been lost between ${prev!.time} and ${r.time} (host clock).`,
      });
  }
  return out;
}
