// The git object format: ids, tree and commit serialisation. No writing here: the writers
// (object-writer.ts, loose-writer.ts, pack-writer.ts) store what this module spells.
import { createHash } from 'node:crypto';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** The git object id of `content` as an object of `type` (SHA-1 over "type size\0content"). */
export function hashObject(type: ObjectType, content: Buffer): string {
  return createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex');
}

export interface TreeItem {
  /** Byte string; must not contain '/' or NUL. */
  name: string;
  mode: '100644' | '100755' | '120000' | '40000' | '160000';
  oid: string;
}

/** Serializes a git tree. Git sorts entries by name bytes, with directories compared as if
 * their name ended in '/'. */
export function serializeTree(items: TreeItem[]): Buffer {
  const key = (it: TreeItem) => (it.mode === '40000' ? it.name + '/' : it.name);
  const sorted = [...items].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const parts: Buffer[] = [];
  for (const it of sorted) {
    parts.push(
      Buffer.from(`${it.mode} `, 'latin1'),
      Buffer.from(it.name, 'latin1'),
      Buffer.from([0]),
      Buffer.from(it.oid, 'hex'),
    );
  }
  return Buffer.concat(parts);
}

export function parseTree(data: Buffer): TreeItem[] {
  const items: TreeItem[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp);
    items.push({
      mode: data.toString('latin1', i, sp) as TreeItem['mode'],
      name: data.toString('latin1', sp + 1, nul),
      oid: data.toString('hex', nul + 1, nul + 21),
    });
    i = nul + 21;
  }
  return items;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
  /** Minutes east of UTC. */
  tzOffset: number;
}

export function formatSignature(s: Signature): string {
  const sign = s.tzOffset < 0 ? '-' : '+';
  const abs = Math.abs(s.tzOffset);
  const tz = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  const clean = (t: string) => t.replace(/[<>\n\0]/g, '');
  return `${clean(s.name)} <${clean(s.email)}> ${Math.floor(s.time)} ${tz}`;
}

export function serializeCommit(c: {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}): Buffer {
  let text = `tree ${c.tree}\n`;
  for (const p of c.parents) text += `parent ${p}\n`;
  text += `author ${formatSignature(c.author)}\ncommitter ${formatSignature(c.committer)}\n\n${c.message}`;
  if (!text.endsWith('\n')) text += '\n';
  return Buffer.from(text, 'utf8');
}
