import { readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { AuditRecord } from './records.js';

/** One name a syscall touched (a PATH record). */
export interface PathItem {
  /** As logged: absolute, relative to the cwd, or relative to a directory fd. */
  name: string;
  /** Absolute and normalized, when the name could be resolved. */
  abs?: string;
  /** PARENT, CREATE, DELETE, NORMAL… */
  nametype: string;
  inode?: number;
  /** As audit prints it: major:minor in hex. */
  dev?: string;
  mode?: number;
}

export interface Proc {
  exe?: string;
  argv?: string[];
  /** PROCTITLE holds at most 128 bytes of the command line; EXECVE holds all of it. */
  argvSource?: 'execve' | 'proctitle';
  argvTruncated?: boolean;
}

/** A syscall with its records, as trail's rules saw it. */
export interface AuditEvent {
  id: string;
  time: number;
  serial: number;
  key: string;
  arch: string;
  syscall: number;
  success: boolean;
  /** The login uid: set at login, kept across sudo and su. undefined = not a login session. */
  auid?: number;
  uid: number;
  euid: number;
  pid: number;
  ppid: number;
  exe: string;
  comm: string;
  tty: string;
  ses?: number;
  cwd?: string;
  items: PathItem[];
  /** Names are relative to a directory fd (unlinkat(fd, "f") of rm -r): resolved by the
   * parent's inode in split.ts, never against the CWD. */
  fdRelative: boolean;
  proc: Proc;
  parent?: Proc & { pid: number; from: 'audit' | 'proc' };
}

const UNSET = 4294967295;
const AT_FDCWD = 'ffffff9c';
// Syscalls whose names are relative to directory fds, and which arguments hold the fds.
// A relative name with a real fd cannot be resolved from the CWD record; such items are
// matched by inode instead (see split.ts).
const AT_ARGS: Record<string, Record<number, string[]>> = {
  // x86_64
  c000003e: {
    257: ['a0'],
    258: ['a0'],
    259: ['a0'],
    260: ['a0'],
    261: ['a0'],
    263: ['a0'],
    266: ['a1'],
    268: ['a0'],
    280: ['a0'],
    437: ['a0'],
    452: ['a0'],
    264: ['a0', 'a2'],
    265: ['a0', 'a2'],
    316: ['a0', 'a2'],
  },
  // aarch64
  c00000b7: {
    56: ['a0'],
    34: ['a0'],
    33: ['a0'],
    54: ['a0'],
    35: ['a0'],
    36: ['a1'],
    53: ['a0'],
    88: ['a0'],
    437: ['a0'],
    452: ['a0'],
    37: ['a0', 'a2'],
    38: ['a0', 'a2'],
    276: ['a0', 'a2'],
  },
};

const num = (v: string | undefined): number | undefined =>
  v === undefined || v === '' || !/^-?\d+$/.test(v) ? undefined : Number(v);

/** argv from an EXECVE record set: a0…aN, long ones split as aN_len + aN[0], aN[1]… */
export function execveArgv(records: AuditRecord[]): string[] {
  const f = new Map<string, string>();
  for (const r of records) for (const [k, v] of r.fields) f.set(k, v);
  // Each argument is at least one field: a damaged argc=4294967295 must not make billions.
  const argc = Math.min(num(f.get('argc')) ?? 0, f.size);
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) {
    const whole = f.get(`a${i}`);
    if (whole !== undefined) {
      argv.push(whole);
      continue;
    }
    let s = '';
    for (let k = 0; f.has(`a${i}[${k}]`); k++) s += f.get(`a${i}[${k}]`)!;
    argv.push(s);
  }
  return argv;
}

/** What the kernel keeps of a command line (128 bytes, NUL-separated). */
export function proctitleArgv(title: string): { argv: string[]; truncated: boolean } {
  const argv = title.split('\0');
  if (argv.length > 1 && argv[argv.length - 1] === '') argv.pop();
  return { argv, truncated: title.length >= 128 };
}

interface Pending {
  records: AuditRecord[];
  firstSeen: number;
}

interface Exec extends Proc {
  ppid: number;
  time: number;
}

const EXEC_CAP = 65_536;

/**
 * Groups records by event id into events. An event is complete at its PROCTITLE (the
 * kernel's last record of a syscall) or EOE; whatever is still open is completed by
 * flush() (at a barrier, see audit-feed.ts) or when it is older than a second.
 */
export class Assembler {
  private pending = new Map<string, Pending>();
  /** pid → what it last executed (from trail's execve rule): full argv and the parent. */
  private execs = new Map<number, Exec>();

  constructor(
    private readonly emit: (e: AuditEvent) => void,
    private readonly keyPrefix = 'trail-',
  ) {}

  push(r: AuditRecord): void {
    if (r.type === 'EOE') return this.complete(r.id);
    let p = this.pending.get(r.id);
    if (!p) {
      p = { records: [], firstSeen: Date.now() };
      this.pending.set(r.id, p);
    }
    p.records.push(r);
    if (r.type === 'PROCTITLE') this.complete(r.id);
  }

  /** Completes every open event (all of their records are in: a later barrier was seen). */
  flush(olderThanMs = 0): void {
    const now = Date.now();
    for (const [id, p] of this.pending) if (now - p.firstSeen >= olderThanMs) this.complete(id);
  }

  execOf(pid: number): Exec | undefined {
    return this.execs.get(pid);
  }

  private complete(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const ev = this.build(p.records);
    if (ev) this.emit(ev);
  }

  private build(records: AuditRecord[]): AuditEvent | undefined {
    const sys = records.find((r) => r.type === 'SYSCALL');
    if (!sys) return undefined;
    const f = sys.fields;
    const key = f.get('key') ?? '';
    if (!key.startsWith(this.keyPrefix)) return undefined;
    const auid = num(f.get('auid'));
    const ev: AuditEvent = {
      id: sys.id,
      time: sys.time,
      serial: sys.serial,
      key,
      arch: f.get('arch') ?? '',
      syscall: num(f.get('syscall')) ?? -1,
      success: f.get('success') !== 'no',
      auid: auid === undefined || auid === UNSET || auid === -1 ? undefined : auid,
      uid: num(f.get('uid')) ?? -1,
      euid: num(f.get('euid')) ?? -1,
      pid: num(f.get('pid')) ?? -1,
      ppid: num(f.get('ppid')) ?? -1,
      exe: f.get('exe') ?? '',
      comm: f.get('comm') ?? '',
      tty: f.get('tty') ?? '(none)',
      ses: ((s) => (s === undefined || s === UNSET ? undefined : s))(num(f.get('ses'))),
      items: [],
      fdRelative: false,
      proc: {},
    };
    const cwd = records.find((r) => r.type === 'CWD')?.fields.get('cwd');
    if (cwd !== undefined) ev.cwd = cwd;
    const execve = records.filter((r) => r.type === 'EXECVE');
    const title = records.find((r) => r.type === 'PROCTITLE')?.fields.get('proctitle');
    ev.proc.exe = ev.exe;
    if (execve.length) {
      ev.proc.argv = execveArgv(execve);
      ev.proc.argvSource = 'execve';
      ev.proc.argvTruncated = false;
    } else if (title !== undefined) {
      const known = this.execs.get(ev.pid);
      if (known?.argv && known.exe === ev.exe)
        Object.assign(ev.proc, { argv: known.argv, argvSource: 'execve', argvTruncated: false });
      else {
        const t = proctitleArgv(title);
        Object.assign(ev.proc, { argv: t.argv, argvSource: 'proctitle', argvTruncated: t.truncated });
      }
    }
    if (execve.length && ev.success) {
      if (this.execs.size >= EXEC_CAP) this.execs.delete(this.execs.keys().next().value!);
      this.execs.delete(ev.pid);
      this.execs.set(ev.pid, {
        exe: ev.exe,
        argv: ev.proc.argv,
        argvSource: 'execve',
        argvTruncated: false,
        ppid: ev.ppid,
        time: ev.time,
      });
    }
    const fdArgs = AT_ARGS[ev.arch]?.[ev.syscall];
    const fdRelative = !!fdArgs && fdArgs.some((a) => f.get(a) !== AT_FDCWD);
    ev.fdRelative = fdRelative;
    for (const r of records) {
      if (r.type !== 'PATH') continue;
      const logged = r.fields.get('name');
      const name = logged ?? '(null)';
      const item: PathItem = { name, nametype: r.fields.get('nametype') ?? '' };
      const inode = num(r.fields.get('inode'));
      if (inode !== undefined) item.inode = inode;
      const dev = r.fields.get('dev');
      if (dev) item.dev = dev;
      const mode = r.fields.get('mode');
      if (mode && /^0?[0-7]+$/.test(mode)) item.mode = parseInt(mode, 8);
      // With a directory fd, the kernel logs the PARENT under a name that is not the
      // folder's path (seen: the process's cwd): only its inode is trusted.
      if (logged !== undefined && !(fdRelative && item.nametype === 'PARENT')) {
        if (name.startsWith('/')) item.abs = clean(name);
        else if (!fdRelative && ev.cwd !== undefined) item.abs = clean(posix.join(ev.cwd, name));
      }
      ev.items.push(item);
    }
    ev.parent = this.parentOf(ev.ppid);
    return ev;
  }

  private parentOf(ppid: number): AuditEvent['parent'] {
    const known = this.execs.get(ppid);
    if (known)
      return { pid: ppid, exe: known.exe, argv: known.argv, argvSource: 'execve', argvTruncated: false, from: 'audit' };
    // Read live: the log is tailed within milliseconds, so the parent of a writer (a shell,
    // a script, apt) almost always still runs; `from: 'proc'` says it was read this way.
    try {
      const exe = readlinkSync(`/proc/${ppid}/exe`, { encoding: 'latin1' });
      return { pid: ppid, exe, from: 'proc' };
    } catch {
      return undefined;
    }
  }
}

function clean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function isDirMode(mode: number | undefined): boolean {
  return mode !== undefined && (mode & 0o170000) === 0o040000;
}
