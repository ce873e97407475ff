import { lstatSync, readFileSync } from 'node:fs';
import { userName } from '../util/accounts.js';
import { posix } from 'node:path';
import { parentOf } from '../util/bytes.js';
import { isDirMode, type AuditEvent, type PathItem } from './events.js';
import type { AptTransaction } from './apt.js';

/** One process that changed something, as the audit records describe it. */
export interface ActorInfo {
  /** Login name (from auid); undefined when the process had no login session. */
  login?: string;
  auid?: number;
  uid: number;
  euid: number;
  pid: number;
  ppid: number;
  exe: string;
  argv?: string[];
  argvSource?: 'execve' | 'proctitle';
  argvTruncated?: boolean;
  tty: string;
  ses?: number;
  parentExe?: string;
  parentArgv?: string[];
  time: number;
}

/** Paths one actor (or, for paths two actors changed, several) changed in a window. */
export interface Group {
  key: string;
  actors: ActorInfo[];
  paths: string[];
  events: string[];
  apt?: AptTransaction;
}

export interface Split {
  groups: Group[];
  /** Paths no audit record explains, or every path when the window cannot be trusted. */
  unknown: { paths: string[]; reason: string };
  /** Paths an apt transaction still running changed: committed once it ends. */
  deferred: string[];
  deferredEvents: string[];
  /** Changed before audit records were last lost, and not committed since: maybe one of them. */
  tainted: { paths: string[]; reason: string };
  /** Changed (by ctime) before a new auditd began receiving records: its record may have
   * been dropped while none did (audit-feed.ts, noteRegistration). */
  unreceived: { paths: string[]; reason: string };
  /** Changed by a process whose login uid was rewritten, not set by a login: it names
   * whom that process chose (login-rewrites.ts), so the change is credited to no one. */
  rewritten: { paths: string[]; reason: string };
}

// rename, renameat, renameat2 on x86_64 and aarch64: a renamed folder moves its content.
const RENAMES: Record<string, number[]> = { c000003e: [82, 264, 316], c00000b7: [38, 276] };

function actorOf(e: AuditEvent): ActorInfo {
  const a: ActorInfo = { uid: e.uid, euid: e.euid, pid: e.pid, ppid: e.ppid, exe: e.exe, tty: e.tty, time: e.time };
  if (e.auid !== undefined) {
    a.auid = e.auid;
    a.login = userName(e.auid) ?? `auid${e.auid}`;
  }
  if (e.ses !== undefined) a.ses = e.ses;
  if (e.proc.argv)
    Object.assign(a, { argv: e.proc.argv, argvSource: e.proc.argvSource, argvTruncated: e.proc.argvTruncated });
  if (e.parent) {
    a.parentExe = e.parent.exe;
    if (e.parent.argv) a.parentArgv = e.parent.argv;
  }
  return a;
}

/** Who a commit names: the login user and the uid it acted as. */
function actorKey(e: AuditEvent): string {
  return `${e.auid ?? 'none'}:${e.uid}`;
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The apt transaction this process belongs to: apt itself, dpkg (its child), or a
 * maintainer script further down. */
function aptOf(e: AuditEvent, txs: AptTransaction[]): AptTransaction | undefined {
  if (!txs.length) return undefined;
  const chain = [e.pid, e.ppid];
  let cur = e.ppid;
  for (let i = 0; i < 6; i++) {
    const tx = txs.find((t) => chain.includes(t.pid));
    if (tx) return tx;
    const up = ppidOf(cur);
    if (up === undefined || up <= 1) break;
    chain.push(up);
    cur = up;
  }
  return undefined;
}

function dev(st: { dev: number }): string {
  const major = Math.floor(st.dev / 256) & 0xfff;
  const minor = (st.dev & 0xff) | ((Math.floor(st.dev / 4096) & ~0xff) >>> 0);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/**
 * Whether an event on an inode was about the file that has that inode now. Inode numbers are
 * reused once a file is gone: a script's `: > 4913; rm 4913` frees one that the next file
 * created gets, maybe another person's a second later, while the script's records are still
 * held. So an event followed by a DELETE of its inode names the file there now only if that
 * file is older than the delete (another link of it survived); without a delete in view, a
 * file born more than a second after the event is another one. When in doubt: not matched,
 * and the path says "unknown" rather than a wrong name.
 */
function sameFile(e: AuditEvent, deletes: AuditEvent[] | undefined, birth: number | undefined): boolean {
  const after = (deletes ?? []).filter((d) => d.serial > e.serial);
  if (after.length) return birth !== undefined && birth < Math.min(...after.map((d) => d.time));
  return birth === undefined || birth <= e.time + 1000;
}

/**
 * Splits the paths a reconcile found changed in one quiet window into one group per actor.
 * A path is matched to an event when the event names it (resolved against its CWD), when a
 * name relative to a directory fd sits in the path's folder (same folder inode), when the
 * event touched the path's inode through an fd (and that inode was not freed and reused
 * since: sameFile), or when the event renamed a folder the path is in. A path two actors
 * touched goes to a group naming both. Nothing is guessed: a path no event explains is
 * "unknown", and so is every path of a window whose records were lost.
 */
export function split(
  dirBytes: string,
  changed: string[],
  events: AuditEvent[],
  opts: {
    degraded?: string;
    apt?: AptTransaction[];
    lossAt?: number;
    registered?: { at: number; why: string };
    now?: number;
    rewritten?: (ses: number | undefined) => string | undefined;
  } = {},
): Split {
  if (opts.degraded)
    return {
      groups: [],
      unknown: { paths: changed, reason: opts.degraded },
      deferred: [],
      deferredEvents: [],
      tainted: { paths: [], reason: '' },
      rewritten: { paths: [], reason: '' },
      unreceived: { paths: [], reason: '' },
    };
  const abs = (p: string) => (p === '' ? dirBytes : `${dirBytes}/${p}`);
  const byPath = new Map<string, AuditEvent[]>();
  const byInode = new Map<string, AuditEvent[]>();
  const renamedDirs: { path: string; e: AuditEvent }[] = [];
  const add = (m: Map<string, AuditEvent[]>, k: string, e: AuditEvent) => {
    const l = m.get(k) ?? [];
    if (!l.includes(e)) l.push(e);
    m.set(k, l);
  };
  const freed = new Map<string, AuditEvent[]>();
  const statCache = new Map<string, { dev: number; ino: number; birth?: number } | undefined>();
  const stat = (p: string) => {
    if (!statCache.has(p)) {
      const st = lstatSync(Buffer.from(p, 'latin1'), { throwIfNoEntry: false });
      // birthtimeMs is 0 where the filesystem keeps no birth time.
      statCache.set(p, st ? { dev: st.dev, ino: st.ino, birth: st.birthtimeMs || undefined } : undefined);
    }
    return statCache.get(p);
  };
  // Folders by inode — from the records (a folder rm -r removed is gone from the disk) and
  // from the disk (the folders of the changed paths) — to resolve names relative to a
  // directory fd: rm -r, find -delete, git and tar all remove and create that way.
  const dirByInode = new Map<string, string>();
  for (const e of events)
    for (const i of e.items)
      if (i.abs && i.inode !== undefined && i.dev && isDirMode(i.mode)) dirByInode.set(`${i.dev}:${i.inode}`, i.abs);
  for (const p of changed) {
    const d = parentOf(abs(p));
    const st = stat(d);
    if (st) dirByInode.set(`${dev(st)}:${st.ino}`, d);
  }
  const fdItems: { item: PathItem; parent: PathItem; e: AuditEvent }[] = [];
  for (const e of events) {
    const parent = e.items.find((i) => i.nametype === 'PARENT');
    for (const item of e.items) {
      if (item.nametype === 'PARENT') continue;
      if (item.abs) add(byPath, item.abs, e);
      else if (e.fdRelative && parent && item.name !== '(null)') fdItems.push({ item, parent, e });
      if (item.inode !== undefined && item.dev) {
        const k = `${item.dev}:${item.inode}`;
        if (item.nametype !== 'DELETE') add(byInode, k, e);
        // A rename logs its old name as DELETE and its new one with the same inode: not freed.
        else if (!e.items.some((i) => i.nametype !== 'DELETE' && i.inode === item.inode && i.dev === item.dev))
          add(freed, k, e);
      }
      if (item.abs && isDirMode(item.mode) && RENAMES[e.arch]?.includes(e.syscall))
        renamedDirs.push({ path: item.abs, e });
    }
  }
  for (let progress = true; progress && fdItems.length;) {
    progress = false;
    for (let k = fdItems.length - 1; k >= 0; k--) {
      const { item, parent, e } = fdItems[k]!;
      const dir = dirByInode.get(`${parent.dev}:${parent.inode}`);
      if (dir === undefined) continue;
      item.abs = posix.normalize(`${dir}/${item.name}`);
      add(byPath, item.abs, e);
      if (isDirMode(item.mode) && item.inode !== undefined) dirByInode.set(`${item.dev}:${item.inode}`, item.abs);
      fdItems.splice(k, 1);
      progress = true;
    }
  }

  const groups = new Map<string, Group>();
  const deferred: string[] = [];
  const deferredEvents = new Set<string>();
  const unmatched: string[] = [];
  const tainted: string[] = [];
  const rewritten: string[] = [];
  const unreceived: string[] = [];
  const rewrites = new Set<string>();
  const now = opts.now ?? Date.now();
  for (const p of changed) {
    const a = abs(p);
    if (opts.lossAt !== undefined) {
      // ctime is set before the syscall's record is queued (or dropped): a change with a
      // ctime after the loss was seen cannot be one whose record was lost then. A deleted
      // path has no ctime: it is suspect for a minute after a loss.
      const st = lstatSync(Buffer.from(a, 'latin1'), { throwIfNoEntry: false });
      if (st ? st.ctimeMs <= opts.lossAt : now - opts.lossAt < 60_000) {
        tainted.push(p);
        continue;
      }
    }
    const st = stat(a);
    // ctime, as for a loss: a change made after the new auditd registered has its record.
    // A deleted path has no ctime and is left to its records (see the README).
    if (opts.registered && st && lstatSync(Buffer.from(a, 'latin1')).ctimeMs <= opts.registered.at) {
      unreceived.push(p);
      continue;
    }
    const found = new Set<AuditEvent>(byPath.get(a) ?? []);
    if (st) {
      const inode = `${dev(st)}:${st.ino}`;
      for (const e of byInode.get(inode) ?? []) if (sameFile(e, freed.get(inode), st.birth)) found.add(e);
    }
    if (!found.size) for (const r of renamedDirs) if (a.startsWith(r.path + '/')) found.add(r.e);
    if (!found.size) {
      unmatched.push(p);
      continue;
    }
    const list = [...found].sort((x, y) => x.serial - y.serial);
    // One writer with a rewritten login uid is enough: the others cannot be told from it.
    const forged = list.map((e) => opts.rewritten?.(e.ses)).filter((w): w is string => !!w);
    if (forged.length) {
      rewritten.push(p);
      for (const w of forged) rewrites.add(w);
      continue;
    }
    const txs = list.map((e) => aptOf(e, opts.apt ?? []));
    if (txs.some((t) => t && !t.ended)) {
      deferred.push(p);
      for (const e of list) deferredEvents.add(e.id);
      continue;
    }
    const keys = [...new Set(list.map((e, i) => (txs[i] ? `apt:${txs[i]!.pid}` : actorKey(e))))].sort();
    const key = keys.join('+');
    let g = groups.get(key);
    if (!g) {
      g = { key, actors: [], paths: [], events: [] };
      const tx = txs.find(Boolean);
      if (tx && keys.length === 1) g.apt = tx;
      groups.set(key, g);
    }
    g.paths.push(p);
    for (const e of list) {
      if (!g.events.includes(e.id)) g.events.push(e.id);
      if (!g.actors.some((x) => x.pid === e.pid && x.exe === e.exe && x.uid === e.uid)) g.actors.push(actorOf(e));
    }
  }
  return {
    groups: [...groups.values()],
    unknown: {
      paths: unmatched,
      reason:
        'no audit record names these paths (changed through a descriptor opened before trail watched, a bind mount, or by the kernel)',
    },
    deferred,
    deferredEvents: [...deferredEvents],
    tainted: {
      paths: tainted,
      reason: `changed before audit records were lost (seen ${opts.lossAt ? new Date(opts.lossAt).toISOString() : ''}): its own record may be one of them`,
    },
    unreceived: { paths: unreceived, reason: opts.registered?.why ?? '' },
    rewritten: { paths: rewritten, reason: `login uid rewritten: ${[...rewrites].join('; ')}` },
  };
}
