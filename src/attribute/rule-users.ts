import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which trail watch processes rely on an audit rule. Audit rules belong to the kernel, not
 * to a process: two daemons of different directories share the barrier rule of their state
 * folder (and, under an older trail that allowed two daemons on one directory, its rule),
 * and the first to stop must not take them from the other. One empty file per (rule, pid) under the host's state
 * folder; the last user removes the rule. A file left by a killed process names a pid that
 * no longer runs trail, and does not count.
 */
export class RuleUsers {
  constructor(private readonly dir: string) {}

  claim(key: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(this.file(key, process.pid), '', { mode: 0o600 });
  }

  /** Gives up this process's use of the rule: the pids of others still using it (empty:
   * the caller may remove it). */
  release(key: string): number[] {
    rmSync(this.file(key, process.pid), { force: true });
    const prefix = `${encodeURIComponent(key)}.`;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const others: number[] = [];
    for (const n of names) {
      if (!n.startsWith(prefix)) continue;
      const pid = Number(n.slice(prefix.length));
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      if (runsTrail(pid)) others.push(pid);
      else rmSync(join(this.dir, n), { force: true });
    }
    return others;
  }

  private file(key: string, pid: number): string {
    return join(this.dir, `${encodeURIComponent(key)}.${pid}`);
  }
}

function runsTrail(pid: number): boolean {
  try {
    return /trail/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}
