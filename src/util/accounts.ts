import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';

// uid/gid → name, read once per process: first /etc/passwd and /etc/group, then, for an id
// they do not name, getent, which asks NSS (LDAP, sssd…) too. (getent for every command
// was two process starts even where the files name every owner, as on most hosts.) An id
// the listing does not name either is asked for by itself: sssd and LDAP do not list their
// users by default (`enumerate = false`) but answer a lookup by id, and without it every
// change by a directory user was authored `auid1234`.
type Names = { byId: Map<number, string>; asked: boolean; missed: Set<number> };
const dbs: Partial<Record<'passwd' | 'group', Names>> = {};

function parse(text: string, into: Map<number, string>): void {
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3) continue;
    // An empty field is no id (Number('') is 0, which would name root).
    if (!/^\d+$/.test(f[2]!)) continue;
    const id = Number(f[2]);
    if (!into.has(id)) into.set(id, f[0]!);
  }
}

function nameOf(db: 'passwd' | 'group', id: number): string | undefined {
  let names = dbs[db];
  if (!names) {
    names = dbs[db] = { byId: new Map(), asked: false, missed: new Set() };
    try {
      parse(readFileSync(`/etc/${db}`, 'utf8'), names.byId);
    } catch {
      /* NSS only */
    }
  }
  const name = names.byId.get(id);
  if (name !== undefined || names.missed.has(id)) return name;
  if (!names.asked) {
    names.asked = true;
    const res = spawnSync('getent', [db], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (res.status === 0) parse(res.stdout, names.byId);
    const listed = names.byId.get(id);
    if (listed !== undefined) return listed;
  }
  // Asked once per id (a miss too): a process start each, for ids the host does not list.
  const one = spawnSync('getent', [db, String(id)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (one.status === 0) parse(one.stdout, names.byId);
  if (!names.byId.has(id)) names.missed.add(id);
  return names.byId.get(id);
}

export function userName(uid: number): string | undefined {
  return nameOf('passwd', uid);
}

export function groupName(gid: number): string | undefined {
  return nameOf('group', gid);
}

/** The person who ran this command: the sudo caller, else the login uid, else the uid. */
export function invokingUser(): string {
  if (process.env.SUDO_USER) return process.env.SUDO_USER;
  try {
    const auid = Number(readFileSync('/proc/self/loginuid', 'utf8').trim());
    if (auid >= 0 && auid !== 4294967295) {
      const name = userName(auid);
      if (name) return name;
    }
  } catch {
    /* no audit login uid here */
  }
  try {
    return os.userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? '?'}`;
  }
}

export function hostName(): string {
  return os.hostname();
}
