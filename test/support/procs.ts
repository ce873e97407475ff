// The live processes of the machine and their command lines, read from /proc (no tool of
// trail's): what tests look for when they wait for a child process to start or to be gone.
import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  /** Its command line's words, as bytes read latin1 (a path that is not UTF-8 stays whole). */
  argv: string[];
}

/** Every process whose command line `match` accepts. One that ends while it is read is left out. */
export function processes(match: (argv: string[]) => boolean): Proc[] {
  const found: Proc[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (match(argv)) found.push({ pid: Number(pid), argv });
  }
  return found;
}
