import { display } from '../util/bytes.js';
import { changeLine, type Change } from '../record/model/diff.js';
import type { Out } from './output.js';

/** Changes as JSON: paths escaped like the human output (see README, "JSON output"). */
export function changesJson(changes: Change[]): unknown[] {
  return changes.map((c) => ({ path: display(c.path), change: c.change, details: c.details }));
}

export function printChanges(out: Out, changes: Change[], limit = Infinity): void {
  const color = {
    A: out.color.green,
    D: out.color.red,
    M: out.color.yellow,
    m: out.color.yellow,
    T: out.color.red,
  } as const;
  for (const c of changes.slice(0, limit)) {
    const line = changeLine(c);
    out.line('  ' + color[line[0] as keyof typeof color](line.slice(0, 1)) + line.slice(1));
  }
  if (changes.length > limit) out.line(`  … and ${changes.length - limit} more`);
}
