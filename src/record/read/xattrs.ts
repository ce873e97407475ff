import { accessSync, closeSync, constants as C, lstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../util/exec.js';
import { errorCode } from '../../util/errors.js';
import type { State } from '../model/state.js';

/**
 * Extended attributes through Debian's `attr` tools (getfattr/setfattr), since Node has no
 * xattr API and the native addons for it take UTF-8 paths only. POSIX ACLs
 * (system.posix_acl_access/default) and file capabilities (security.capability) are
 * xattrs, so this one path records and restores all three, byte for byte.
 *
 * Names travel inside getfattr's dump format (octal escapes), which carries any byte; a
 * path given on a command line must be UTF-8, so a non-UTF-8 name is handed over as an
 * open descriptor (/dev/fd/N) instead.
 */
export type Xattrs = Record<string, string>;

let available: boolean | undefined;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', cmd), C.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function xattrToolsAvailable(): Promise<boolean> {
  if (available === undefined) {
    // On PATH, not run: `--version` of each was two process starts per command.
    available = onPath('getfattr') && onPath('setfattr');
  }
  return available;
}

/** Every xattr of every path under root (one getfattr for the whole tree). Keys are
 * byte-string paths relative to root ('' for root itself). */
export async function readTreeXattrs(root: string): Promise<Map<string, Xattrs>> {
  if (!(await xattrToolsAvailable())) return new Map();
  const r = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.'], {
    cwd: root,
    okCodes: [0, 1],
  });
  return parseDump(r.stdout, (p) => (p === '.' ? '' : p.replace(/^\.\//, '')));
}

/**
 * What getfattr said, by path, for the daemon: its window's reconcile and the commit after it
 * read the same fresh files, and a getfattr costs a process. Any xattr change moves the
 * file's ctime, so an answer holds while (inode, ctime) stay the same — kept only when the
 * ctime was already well in the past at the read, so that a change in the same clock tick
 * right after the read cannot share it.
 */
let memo: Map<string, { ino: bigint; ctimeNs: bigint; x: Xattrs | undefined }> | undefined;
const MEMO_CAP = 100_000;
const SETTLED_NS = 50_000_000n;

export function keepXattrsInMemory(on: boolean): void {
  memo = on ? new Map() : undefined;
}

/** What starts getfattr for some paths: a daemon passes one that does not fork itself. */
let runner: typeof run = run;

export function runXattrsWith(r: typeof run | undefined): void {
  runner = r ?? run;
}

/** xattrs of some paths (byte strings relative to root). */
export async function readXattrs(
  root: string,
  paths: string[],
  isSymlink: (p: string) => boolean,
): Promise<Map<string, Xattrs>> {
  const out = new Map<string, Xattrs>();
  if (!paths.length || !(await xattrToolsAvailable())) return out;
  const stamps = memo ? new Map<string, { ino: bigint; ctimeNs: bigint }>() : undefined;
  if (memo && stamps) {
    const startNs = BigInt(Date.now()) * 1_000_000n;
    const rest: string[] = [];
    for (const p of paths) {
      let st;
      try {
        st = lstatSync(Buffer.from(root + '/' + p, 'latin1'), { bigint: true });
      } catch {
        rest.push(p);
        continue;
      }
      const key = root + '\0' + p;
      const hit = memo.get(key);
      if (hit && hit.ino === st.ino && hit.ctimeNs === st.ctimeNs) {
        if (hit.x) out.set(p, hit.x);
        continue;
      }
      if (startNs - st.ctimeNs >= SETTLED_NS) stamps.set(p, { ino: st.ino, ctimeNs: st.ctimeNs });
      rest.push(p);
    }
    paths = rest;
  }
  const got = await readXattrsNow(root, paths, isSymlink);
  for (const [p, x] of got) out.set(p, x);
  if (memo && stamps) {
    if (memo.size + stamps.size > MEMO_CAP) memo.clear();
    for (const [p, st] of stamps) memo.set(root + '\0' + p, { ...st, x: got.get(p) });
  }
  return out;
}

async function readXattrsNow(
  root: string,
  paths: string[],
  isSymlink: (p: string) => boolean,
): Promise<Map<string, Xattrs>> {
  const out = new Map<string, Xattrs>();
  if (!paths.length) return out;
  const plain: string[] = [];
  const odd: string[] = [];
  for (const p of paths) (isUtf8(p) ? plain : odd).push(p);
  for (let i = 0; i < plain.length; i += 400) {
    const chunk = plain.slice(i, i + 400);
    const args = chunk.map((p) => './' + (p === '' ? '.' : Buffer.from(p, 'latin1').toString('utf8')));
    const r = await runner('getfattr', ['-h', '-d', '-m', '-', '-e', 'base64', '--', ...args], {
      cwd: root,
      okCodes: [0, 1],
    });
    for (const [k, v] of parseDump(r.stdout, (q) => q.replace(/^\.\//, '').replace(/^\.$/, ''))) out.set(k, v);
  }
  for (const p of odd) {
    if (isSymlink(p)) continue; // a descriptor cannot name a symlink itself; such links keep none
    let fd: number;
    try {
      fd = openSync(Buffer.from(root + '/' + p, 'latin1'), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') continue;
      throw err;
    }
    try {
      const r = await run('getfattr', ['-d', '-m', '-', '-e', 'base64', '/dev/fd/3'], { fds: [fd], okCodes: [0, 1] });
      const got = parseDump(r.stdout, () => p);
      const x = got.get(p);
      if (x) out.set(p, x);
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

/** Sets xattrs (replacing values) and removes the names listed in `remove`. Paths are
 * byte strings relative to cwd. */
export async function writeXattrs(
  cwd: string,
  set: Map<string, Xattrs>,
  remove: Map<string, string[]> = new Map(),
): Promise<void> {
  if (!set.size && !remove.size) return;
  if (!(await xattrToolsAvailable()))
    throw new Error(
      'cannot restore extended attributes, ACLs or capabilities: setfattr is missing (apt-get install attr)',
    );
  const dump: string[] = [];
  for (const [p, attrs] of set) {
    const names = Object.keys(attrs);
    if (!names.length) continue;
    dump.push(`# file: ${escapeDumpPath('./' + p)}`);
    for (const n of names) dump.push(`${n}=0s${attrs[n]}`);
    dump.push('');
  }
  if (dump.length)
    await run('setfattr', ['-h', '--restore=-'], { cwd, input: Buffer.from(dump.join('\n') + '\n', 'latin1') });
  for (const [p, names] of remove) {
    for (const n of names)
      await run('setfattr', ['-h', '-x', n, '--', './' + Buffer.from(p, 'latin1').toString('utf8')], {
        cwd,
        okCodes: [0, 1],
      });
  }
}

function isUtf8(bytes: string): boolean {
  const buf = Buffer.from(bytes, 'latin1');
  return Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);
}

/** getfattr escapes the dump's path with octal for control bytes, '\' and bytes ≥ 0x80? —
 * it escapes what is not printable in the C locale; both directions use octal. */
function escapeDumpPath(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    out += c < 0x21 || c >= 0x7f || c === 0x5c || c === 0x3d ? '\\' + c.toString(8).padStart(3, '0') : p[i];
  }
  return out;
}

function unescapeDumpPath(p: string): string {
  return p.replace(/\\([0-7]{3})|\\\\/g, (m, oct: string | undefined) =>
    oct ? String.fromCharCode(parseInt(oct, 8)) : '\\',
  );
}

function parseDump(data: Buffer, key: (path: string) => string): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of data.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      out.set(key(unescapeDumpPath(line.slice(8))), current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      const name = line.slice(0, eq);
      let value = line.slice(eq + 1);
      value = value.startsWith('0s')
        ? value.slice(2)
        : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1').toString('base64');
      current[name] = value;
    }
  }
  for (const [k, v] of out) if (!Object.keys(v).length) out.delete(k);
  return out;
}

/** One getfattr over the whole tree beats thousands of argument lists when most is new. */
const XATTRS_WHOLE_TREE = 2000;

/** When every entry will be made anew (a first snapshot, status --full) of a big tree: one
 * getfattr over the whole tree, started now, runs in its own process while the files are read. */
export function startTreeXattrs(
  root: string,
  allAnew: boolean,
  listed: number,
): ReturnType<typeof readTreeXattrs> | undefined {
  if (!allAnew || listed <= XATTRS_WHOLE_TREE) return undefined;
  const tree = readTreeXattrs(root);
  tree.catch(() => {});
  return tree;
}

/** Adds their xattrs to the entries of `fresh` (the paths made anew among `total` listed):
 * from the whole tree's getfattr when most are new, else for these paths only. `moved` are
 * files found changed between the listing and their read: the tree's getfattr, started after
 * the listing and running while files are read, may have passed one before a setfacl, setcap
 * or setfattr that the read then saw, so theirs are read again now, after the read (few files
 * change during a scan). */
export async function addXattrs(
  root: string,
  state: State,
  fresh: string[],
  total: number,
  tree?: ReturnType<typeof readTreeXattrs>,
  moved: string[] = [],
): Promise<void> {
  if (!fresh.length) return;
  const all = fresh.length > XATTRS_WHOLE_TREE && fresh.length > total / 2;
  const isSymlink = (p: string) => state.get(p)?.meta.kind === 'symlink';
  const found = all ? await (tree ?? readTreeXattrs(root)) : await readXattrs(root, fresh, isSymlink);
  if (all && moved.length) {
    const late = await readXattrs(root, moved, isSymlink);
    for (const p of moved) {
      const x = late.get(p);
      if (x) found.set(p, x);
      else found.delete(p);
    }
  }
  for (const p of fresh) {
    const x = found.get(p);
    const e = state.get(p);
    if (x && e) e.meta.xattrs = x;
  }
}
