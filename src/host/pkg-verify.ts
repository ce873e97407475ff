import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fsPath } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';

// Paths are byte strings (latin1), as everywhere in trail: dpkg's lists are read as latin1.

/**
 * Compares files with what their Debian package shipped: dpkg's md5sums for package files
 * and the conffile digests in its status file. A first snapshot then does not bless what an
 * insider changed before trail was installed (what AIDE users asked for in aide#30). MD5 is
 * dpkg's choice: it detects accidents and casual edits, not a forger who can also rewrite
 * /var/lib/dpkg; the trail from then on is what is tamper-evident.
 */
export interface PkgFinding {
  path: string;
  package: string;
  kind: 'conffile' | 'file';
  state: 'modified' | 'missing';
}

export interface PkgReport {
  packages: number;
  checked: number;
  findings: PkgFinding[];
}

interface Expected {
  pkg: string;
  md5: string;
  kind: 'conffile' | 'file';
}

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** Conffiles of installed packages, from dpkg's status file. */
export function parseStatus(text: string): { packages: Set<string>; conffiles: Map<string, Expected> } {
  const packages = new Set<string>();
  const conffiles = new Map<string, Expected>();
  for (const stanza of text.split(/\n\n+/)) {
    const pkg = /^Package: (.+)$/m.exec(stanza)?.[1];
    const status = /^Status: (.+)$/m.exec(stanza)?.[1] ?? '';
    if (!pkg || !/ installed$/.test(status)) continue;
    packages.add(pkg);
    const m = /^Conffiles:\n((?: .+\n?)+)/m.exec(stanza);
    if (!m) continue;
    for (const line of m[1]!.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 2 || f[2] === 'obsolete' || f[2] === 'remove-on-upgrade' || !/^[0-9a-f]{32}$/.test(f[1]!))
        continue;
      conffiles.set(f[0]!, { pkg, md5: f[1]!, kind: 'conffile' });
    }
  }
  return { packages, conffiles };
}

async function md5(path: string): Promise<string | undefined> {
  try {
    return createHash('md5')
      .update(await fsp.readFile(fsPath(path)))
      .digest('hex');
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

export async function verifyPackages(dir: string, admindir = '/var/lib/dpkg'): Promise<PkgReport> {
  const { packages, conffiles } = parseStatus(await fsp.readFile(join(admindir, 'status'), 'latin1'));
  const expected = new Map<string, Expected>();
  const info = join(admindir, 'info');
  for (const name of await fsp.readdir(info)) {
    if (!name.endsWith('.md5sums')) continue;
    const pkg = name.slice(0, -'.md5sums'.length).split(':')[0]!;
    if (!packages.has(pkg)) continue;
    const text = await fsp.readFile(join(info, name), 'latin1');
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line);
      if (!m) continue;
      const path = '/' + m[2]!;
      if (under(path, dir)) expected.set(path, { pkg, md5: m[1]!, kind: 'file' });
    }
  }
  // A conffile's digest is in the status file, not in md5sums: it wins where both list it.
  for (const [path, e] of conffiles) if (under(path, dir)) expected.set(path, e);
  const findings: PkgFinding[] = [];
  for (const [path, e] of [...expected].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const got = await md5(path);
    if (got === e.md5) continue;
    findings.push({ path, package: e.pkg, kind: e.kind, state: got === undefined ? 'missing' : 'modified' });
  }
  return { packages: packages.size, checked: expected.size, findings };
}
