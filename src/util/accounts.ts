import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';

// uid/gid → name, read once per process. getent asks NSS (LDAP, sssd…) as well as the
// files; when it is missing we fall back to the files.
let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

function load(db: 'passwd' | 'group'): Map<number, string> {
  const map = new Map<number, string>();
  let text = '';
  const res = spawnSync('getent', [db], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.status === 0) text = res.stdout;
  else {
    try { text = readFileSync(`/etc/${db}`, 'utf8'); } catch { /* no names: ids stay */ }
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3) continue;
    const id = Number(f[2]);
    if (Number.isInteger(id) && !map.has(id)) map.set(id, f[0]!);
  }
  return map;
}

export function userName(uid: number): string | undefined {
  users ??= load('passwd');
  return users.get(uid);
}

export function groupName(gid: number): string | undefined {
  groups ??= load('group');
  return groups.get(gid);
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
  } catch { /* no audit login uid here */ }
  try { return os.userInfo().username; } catch { return `uid${process.getuid?.() ?? '?'}`; }
}

export function hostName(): string {
  return os.hostname();
}
