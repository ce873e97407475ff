import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userName } from '../util/accounts.js';
import { errorCode } from '../util/errors.js';

/**
 * apt transactions, as hooks/apt/trail-apt-hook marks them: a file per apt process under
 * `<trail home>/apt/`, written at DPkg::Pre-Invoke (start), DPkg::Pre-Install-Pkgs (the
 * packages, from apt's hook protocol version 2) and DPkg::Post-Invoke (end). trail commits
 * every change a transaction's processes made as one commit, once it has ended.
 */
export interface AptPackage {
  name: string;
  from?: string;
  to?: string;
  action: 'install' | 'upgrade' | 'downgrade' | 'remove' | 'configure' | 'reinstall';
}

export interface AptTransaction {
  pid: number;
  auid?: number;
  login?: string;
  sudoUser?: string;
  command?: string;
  started?: number;
  ended?: number;
  packages: AptPackage[];
  file: string;
}

export function aptDir(home: string): string {
  return join(home, 'apt');
}

/** One line of the Pre-Install-Pkgs protocol 2: `name old < new what` (`-` = none). */
export function parsePackageLine(line: string): AptPackage | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length < 4) return undefined;
  const [name, from, dir, to, what] = f as [string, string, string, string, string | undefined];
  const pkg: AptPackage = { name, action: 'install' };
  if (from !== '-') pkg.from = from;
  if (to !== '-') pkg.to = to;
  if (what === '**REMOVE**' || (to === '-' && dir === '>')) pkg.action = 'remove';
  else if (what === '**CONFIGURE**') pkg.action = 'configure';
  else if (dir === '<' && pkg.from) pkg.action = 'upgrade';
  else if (dir === '>' && pkg.from) pkg.action = 'downgrade';
  else if (dir === '=') pkg.action = 'reinstall';
  return pkg;
}

export function parseMarker(text: string, file: string): AptTransaction | undefined {
  const tx: AptTransaction = { pid: 0, packages: [], file };
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    const sp = line.indexOf(' ');
    if (line.startsWith('pkg ')) {
      const p = parsePackageLine(line.slice(4));
      // apt lists a package again for its configure step: keep the first, fuller line.
      if (p && !tx.packages.some((x) => x.name === p.name)) tx.packages.push(p);
      continue;
    }
    if (eq < 0 || (sp >= 0 && sp < eq)) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    if (k === 'pid') tx.pid = Number(v);
    else if (k === 'auid' && /^\d+$/.test(v) && v !== '4294967295') tx.auid = Number(v);
    else if (k === 'sudo_user' && v) tx.sudoUser = v;
    else if (k === 'command' && v) tx.command = v;
    else if (k === 'start') {
      tx.started = Number(v) * 1000;
      delete tx.ended;
    } else if (k === 'end') tx.ended = Number(v) * 1000;
  }
  if (!tx.pid) return undefined;
  if (tx.auid !== undefined) tx.login = userName(tx.auid) ?? `auid${tx.auid}`;
  // apt calls dpkg more than once (unpack, then configure), each between Pre- and
  // Post-Invoke: the transaction is over only once apt itself has exited. An apt killed
  // before Post-Invoke never writes `end`: it is over too.
  if (alive(tx.pid)) delete tx.ended;
  else tx.ended ??= Date.now();
  return tx;
}

function alive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

export async function readTransactions(home: string): Promise<AptTransaction[]> {
  const dir = aptDir(home);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: AptTransaction[] = [];
  for (const n of names) {
    if (!n.endsWith('.tx')) continue;
    const file = join(dir, n);
    try {
      const tx = parseMarker(await fsp.readFile(file, 'latin1'), file);
      if (tx) out.push(tx);
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}

/** Markers of transactions that ended more than an hour ago are of no further use. */
export async function forgetOld(txs: AptTransaction[], now = Date.now()): Promise<void> {
  for (const t of txs) if (t.ended && now - t.ended > 3600_000) await fsp.rm(t.file, { force: true });
}

export function packageLine(p: AptPackage): string {
  if (p.action === 'remove') return `${p.name} ${p.from ?? ''} removed`.replace(/\s+/g, ' ');
  if (p.from && p.to && p.from !== p.to) return `${p.name} ${p.from} → ${p.to}`;
  return `${p.name} ${p.to ?? p.from ?? ''}`.trim();
}
