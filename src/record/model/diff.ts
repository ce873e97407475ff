import { byteCompare, display } from '../../util/bytes.js';
import { metaLine, type Meta } from './meta.js';
import type { Entry, State } from './state.js';

export type ChangeKind = 'added' | 'deleted' | 'modified' | 'metadata' | 'type';

export interface Change {
  path: string;
  change: ChangeKind;
  before?: Meta;
  after?: Meta;
  /** Human notes on what differs: "mode 0644 → 0600", "owner root → alice", … */
  details: string[];
}

/** What differs between two states, path by path, in path order. `only`: the paths that may
 * differ (a scan under roots says which); any other is the very same entry in both. */
export function diffStates(a: State, b: State, filter?: (path: string) => boolean, only?: Iterable<string>): Change[] {
  if (only) return diffPaths(a, b, only, filter);
  const out: Change[] = [];
  for (const [path, y] of b) {
    const x = a.get(path);
    if (x === y) continue; // the scan reused the recorded entry: its stat data still match
    if (path === '' && !x) continue;
    if (filter && !filter(path)) continue;
    if (!x) out.push({ path, change: 'added', after: y.meta, details: [] });
    else if (!sameAsRecorded(x, y)) {
      const c = compareEntries(x, y);
      if (c) out.push({ path, ...c, before: x.meta, after: y.meta });
    }
  }
  for (const [path, x] of a) {
    if (b.has(path) || (filter && !filter(path))) continue;
    out.push({ path, change: 'deleted', before: x.meta, details: [] });
  }
  return out.sort((p, q) => byteCompare(p.path, q.path));
}

function diffPaths(a: State, b: State, only: Iterable<string>, filter?: (path: string) => boolean): Change[] {
  const out: Change[] = [];
  for (const path of new Set(only)) {
    const x = a.get(path);
    const y = b.get(path);
    if (x === y || (filter && !filter(path))) continue;
    if (!y) out.push({ path, change: 'deleted', before: x!.meta, details: [] });
    else if (!x) {
      if (path !== '') out.push({ path, change: 'added', after: y.meta, details: [] });
    } else if (!sameAsRecorded(x, y)) {
      const c = compareEntries(x, y);
      if (c) out.push({ path, ...c, before: x.meta, after: y.meta });
    }
  }
  return out.sort((p, q) => byteCompare(p.path, q.path));
}

/** True when `y` is surely what `x` recorded: same blob, and its metadata make the very line
 * `x` was read back from. Every field compareEntries looks at is in that line, so this is its
 * "no change" without parsing `x`'s line: status --full at 50k files makes every entry anew,
 * and parsing each recorded one to compare was ~250 ms of its ~1.7 s. */
function sameAsRecorded(x: Entry, y: Entry): boolean {
  return x.line !== undefined && x.oid === y.oid && x.line === metaLine('', y.meta);
}

function compareEntries(x: Entry, y: Entry): { change: ChangeKind; details: string[] } | undefined {
  const a = x.meta;
  const b = y.meta;
  if (a.kind !== b.kind) return { change: 'type', details: [`${a.kind} → ${b.kind}`] };
  const details: string[] = [];
  const contentChanged = x.oid !== y.oid || a.digest !== b.digest || a.secret !== b.secret;
  if (contentChanged && a.kind === 'symlink') details.push('link target changed');
  if (a.mode !== b.mode) details.push(`mode ${oct(a.mode)} → ${oct(b.mode)}`);
  if (a.uid !== b.uid) details.push(`owner ${a.user ?? a.uid} → ${b.user ?? b.uid}`);
  if (a.gid !== b.gid) details.push(`group ${a.group ?? a.gid} → ${b.group ?? b.gid}`);
  if (String(a.rdev) !== String(b.rdev)) details.push(`device ${a.rdev?.join(',')} → ${b.rdev?.join(',')}`);
  if (a.link !== b.link)
    details.push(b.link === undefined ? 'no longer a hard link' : `hard link to ${display(b.link)}`);
  if (a.skipped !== b.skipped) details.push(b.skipped ? `skipped: ${b.skipped}` : 'readable again');
  const xa = a.xattrs ?? {};
  const xb = b.xattrs ?? {};
  for (const k of new Set([...Object.keys(xa), ...Object.keys(xb)])) {
    if (xa[k] !== xb[k]) details.push(`${xattrLabel(k)} ${k in xa ? (k in xb ? 'changed' : 'removed') : 'added'}`);
  }
  if (contentChanged && a.kind !== 'symlink') return { change: 'modified', details };
  if (contentChanged || details.length)
    return { change: contentChanged && a.kind !== 'symlink' ? 'modified' : 'metadata', details };
  return undefined;
}

function xattrLabel(name: string): string {
  if (name.startsWith('system.posix_acl_')) return 'ACL';
  if (name === 'security.capability') return 'capabilities';
  return `xattr ${name}`;
}

export function oct(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** One line per change, `M path (details)`, the way commit bodies and `status` show them. */
export function changeLine(c: Change): string {
  const letter = { added: 'A', deleted: 'D', modified: 'M', metadata: 'm', type: 'T' }[c.change];
  const d = c.details.length ? `  (${c.details.join(', ')})` : '';
  return `${letter} ${display(c.path)}${d}`;
}
