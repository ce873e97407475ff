import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';

// uid/gid → name, read once per process: first /etc/passwd and /etc/group, then, for an id
// they do not name, getent, which asks NSS (LDAP, sssd…) too. (getent for every command
// was two process starts even where the files name every owner, as on most hosts.)
type Names = { byId: Map<number, string>; asked: boolean };
const dbs: Partial<Record<'passwd' | 'group', Names>> = {};

function parse(text: string, into: Map<number, string>): void {
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3) continue;
    const id = Number(f[2]);
    if (Number.isInteger(id) && !into.has(id)) into.set(id, f[0]!);
  }
}

function nameOf(db: 'passwd' | 'group', id: number): string | undefined {
  let names = dbs[db];
  if (!names) {
    names = dbs[db] = { byId: new Map(), asked: false };
    try {
      parse(readFileSync(`/etc/${db}`, 'utf8'), names.byId);
    } catch {
      /* NSS only */
    }
  }
  const name = names.byId.get(id);
  if (name !== undefined || names.asked) return name;
  names.asked = true;
  const res = spawnSync('getent', [db], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.status === 0) parse(res.stdout, names.byId);
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
