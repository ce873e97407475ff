// An independent description of a directory tree, for comparing trees byte for byte and
// attribute for attribute. It imports nothing from src/ on purpose: a bug in trail's own
// walker must not be able to hide itself here.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface Node {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  mtimeMs?: number;
  xattrs?: string;
  hardlinks?: string;
}

export interface WalkOptions {
  /** Compare modification times of files and symlinks (not folders: listing changes them). */
  mtime?: boolean;
  /** Relative paths (as latin1 byte strings) to leave out. */
  exclude?: (path: string) => boolean;
}

export function describeTree(root: string, opts: WalkOptions = {}): Map<string, Node> {
  const out = new Map<string, Node>();
  const inodes = new Map<string, string[]>();
  const rootBuf = Buffer.from(root);
  const visit = (rel: Buffer) => {
    const relKey = rel.toString('latin1');
    if (relKey && opts.exclude?.(relKey)) return;
    const full = rel.length ? Buffer.concat([rootBuf, Buffer.from('/'), rel]) : rootBuf;
    const st = lstatSync(full);
    const type = st.isFile()
      ? 'file'
      : st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFIFO()
            ? 'fifo'
            : st.isSocket()
              ? 'socket'
              : st.isCharacterDevice()
                ? 'char'
                : 'block';
    const node: Node = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
    if (type === 'file') {
      node.size = st.size;
      node.sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        inodes.set(key, [...(inodes.get(key) ?? []), relKey]);
      }
    }
    if (type === 'symlink') node.target = readlinkSync(full, { encoding: 'buffer' }).toString('hex');
    if (type === 'char' || type === 'block') node.rdev = st.rdev;
    if (opts.mtime && (type === 'file' || type === 'symlink')) node.mtimeMs = st.mtimeMs;
    // xattrs by path: a non-UTF-8 name cannot be a command-line argument, so those are left
    // out of the comparison (trail's own tests of such names check their xattrs separately).
    const utf8 = Buffer.from(full.toString('utf8')).equals(full);
    if (type !== 'symlink' && utf8) withXattrs.set(full.toString(), node);
    out.set(relKey, node);
    if (type === 'dir') {
      const names = readdirSync(full, { encoding: 'buffer' }).sort(Buffer.compare);
      for (const n of names) visit(rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
    }
  };
  const withXattrs = new Map<string, Node>();
  visit(Buffer.alloc(0));
  // Many paths per getfattr (one run per path took minutes at 50k files). It prints a block
  // only for a path that has xattrs, headed by the path with bytes outside ASCII as \ooo.
  const wanted = [...withXattrs.keys()];
  for (let i = 0; i < wanted.length; i += 1000) {
    const r = spawnSync(
      'getfattr',
      ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', '--', ...wanted.slice(i, i + 1000)],
      { encoding: 'latin1', maxBuffer: 1 << 28 },
    );
    for (const block of (r.stdout ?? '').split('\n\n')) {
      const [head, ...attrs] = block.split('\n');
      if (!head?.startsWith('# file: ')) continue;
      const path = Buffer.from(
        head
          .slice(8)
          .replace(/\\([0-7]{3})|\\\\/g, (m, o: string | undefined) =>
            o ? String.fromCharCode(parseInt(o, 8)) : '\\',
          ),
        'latin1',
      ).toString('utf8');
      const node = withXattrs.get(path);
      const lines = attrs.filter((l) => l.includes('=')).sort();
      if (node && lines.length) node.xattrs = lines.join(';');
    }
  }
  for (const group of inodes.values()) {
    if (group.length < 2) continue;
    for (const p of group)
      out.get(p)!.hardlinks = group
        .filter((q) => q !== p)
        .sort()
        .join('|');
  }
  return out;
}

/** Human-readable differences between two descriptions (empty when equal). */
export function compareTrees(a: Map<string, Node>, b: Map<string, Node>): string[] {
  const diffs: string[] = [];
  for (const [p, n] of a) {
    const m = b.get(p);
    if (!m) {
      diffs.push(`missing: ${JSON.stringify(p)}`);
      continue;
    }
    // Times go through a double of seconds on their way back (utimes): equal to the microsecond.
    const close = n.mtimeMs === undefined || m.mtimeMs === undefined || Math.abs(n.mtimeMs - m.mtimeMs) < 0.01;
    const x = JSON.stringify({ ...n, mtimeMs: close ? 0 : n.mtimeMs });
    const y = JSON.stringify({ ...m, mtimeMs: close ? 0 : m.mtimeMs });
    if (x !== y) diffs.push(`differs: ${JSON.stringify(p)}\n  was ${x}\n  now ${y}`);
  }
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`extra: ${JSON.stringify(p)}`);
  return diffs;
}
