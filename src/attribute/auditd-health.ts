import { readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Why auditd may be running yet write no records: it suspends logging on its own when the
 * disk of its log runs low (space_left / admin_space_left / disk_full with the SUSPEND,
 * SINGLE or HALT actions of auditd.conf), and stays suspended until freed and resumed
 * (SIGUSR2) or restarted. trail sees only that records stopped arriving; this names why.
 */
export interface AuditdSettings {
  logFile: string;
  spaceLeft: Threshold;
  spaceLeftAction: string;
  adminSpaceLeft: Threshold;
  adminSpaceLeftAction: string;
  diskFullAction: string;
}

/** A threshold of auditd.conf: megabytes, or a percentage of the filesystem. */
type Threshold = { mb: number } | { percent: number };

const DEFAULTS: AuditdSettings = {
  logFile: '/var/log/audit/audit.log',
  spaceLeft: { mb: 75 },
  spaceLeftAction: 'SYSLOG',
  adminSpaceLeft: { mb: 50 },
  adminSpaceLeftAction: 'SUSPEND',
  diskFullAction: 'SUSPEND',
};

export function readAuditdConf(conf = '/etc/audit/auditd.conf'): AuditdSettings {
  let text = '';
  try {
    text = readFileSync(conf, 'utf8');
  } catch {
    /* defaults */
  }
  const get = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(\\S+)`, 'm').exec(text)?.[1];
  const threshold = (key: string, def: Threshold): Threshold => {
    const v = get(key);
    const m = v && /^(\d+(?:\.\d+)?)(%?)$/.exec(v);
    if (!m) return def;
    return m[2] ? { percent: Number(m[1]) } : { mb: Number(m[1]) };
  };
  return {
    logFile: get('log_file') ?? DEFAULTS.logFile,
    spaceLeft: threshold('space_left', DEFAULTS.spaceLeft),
    spaceLeftAction: (get('space_left_action') ?? DEFAULTS.spaceLeftAction).toUpperCase(),
    adminSpaceLeft: threshold('admin_space_left', DEFAULTS.adminSpaceLeft),
    adminSpaceLeftAction: (get('admin_space_left_action') ?? DEFAULTS.adminSpaceLeftAction).toUpperCase(),
    diskFullAction: (get('disk_full_action') ?? DEFAULTS.diskFullAction).toUpperCase(),
  };
}

/** Actions after which auditd writes no more records. */
const STOPS = new Set(['SUSPEND', 'SINGLE', 'HALT']);

export interface LogDiskState {
  logDir: string;
  freeMb: number;
  totalMb: number;
  /** Set when auditd has (most likely) stopped writing because of the free space. */
  suspended?: string;
  /** Set when the space is low but auditd still writes. */
  low?: string;
}

/** The free space of the audit log's filesystem against auditd's thresholds. */
export function logDiskState(s: AuditdSettings = readAuditdConf(), statfs = statfsSync): LogDiskState | undefined {
  const logDir = dirname(s.logFile);
  let st;
  try {
    st = statfs(logDir);
  } catch {
    return undefined;
  }
  const freeMb = (Number(st.bavail) * Number(st.bsize)) / 2 ** 20;
  const totalMb = (Number(st.blocks) * Number(st.bsize)) / 2 ** 20;
  const mb = (t: Threshold) => ('mb' in t ? t.mb : (t.percent / 100) * totalMb);
  const show = (t: Threshold) => ('mb' in t ? `${t.mb} MB` : `${t.percent}%`);
  const state: LogDiskState = { logDir, freeMb: Math.round(freeMb), totalMb: Math.round(totalMb) };
  const free = `${state.freeMb} MB free on the filesystem of ${logDir}`;
  const resume = 'free space, then resume auditd (kill -USR2 its pid, or restart it)';
  if (freeMb < 1 && STOPS.has(s.diskFullAction))
    state.suspended = `${free}: the disk is full and disk_full_action is ${s.diskFullAction}; ${resume}`;
  else if (freeMb < mb(s.adminSpaceLeft) && STOPS.has(s.adminSpaceLeftAction))
    state.suspended = `${free}, below admin_space_left (${show(s.adminSpaceLeft)}) whose action is ${s.adminSpaceLeftAction}: auditd stops writing records; ${resume}`;
  else if (freeMb < mb(s.spaceLeft))
    state.low = `${free}, below space_left (${show(s.spaceLeft)}): auditd ${STOPS.has(s.spaceLeftAction) ? 'stops writing records' : 'is about to stop writing records'}`;
  return state;
}
