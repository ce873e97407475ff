import { escapeName, unescapeName } from '../../util/bytes.js';

/** What a snapshot knows of one path besides its content. Git itself keeps only
 * 644/755/symlink; everything else lives here, in a manifest committed beside the content. */
export type Kind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface Meta {
  kind: Kind;
  /** All 12 permission bits (setuid, setgid, sticky, rwx×3). */
  mode: number;
  uid: number;
  gid: number;
  /** Names at the time of the snapshot: a uid means little on another host. */
  user?: string;
  group?: string;
  /** Milliseconds since the epoch, with the sub-millisecond part the filesystem gives. */
  mtime?: number;
  size?: number;
  /** Device numbers of char/block devices. */
  rdev?: [number, number];
  /** Hard link: the path (byte string, relative) of the first link to the same inode. */
  link?: string;
  /** Extended attributes, values base64; POSIX ACLs (system.posix_acl_*) and file
   * capabilities (security.capability) are xattrs too and are kept here, raw. */
  xattrs?: Record<string, string>;
  /** sha256 of content that is not kept in the trail (larger than snapshot.maxFileSize). */
  digest?: string;
  /** Keyed digest of a secret's content; the content itself stays on the host. */
  secret?: string;
  /** A secret because it holds another secret's content, though no rule names it (a copy, or
   * a secret moved to another name): it stays one while its content does not change
   * (read/secret-copies.ts). Says no more than its digest, equal to that secret's. */
  secretCopy?: true;
  /** Why this path could not be recorded (unreadable, vanished, too large…). */
  skipped?: string;
}

/** Git's tree mode for a path's content, or undefined when it has no content in git. */
export function treeMode(m: Meta): '100644' | '100755' | '120000' | '40000' | undefined {
  if (m.skipped) return m.kind === 'dir' ? '40000' : undefined;
  switch (m.kind) {
    case 'file':
      return m.mode & 0o100 ? '100755' : '100644';
    case 'symlink':
      return '120000';
    case 'dir':
      return '40000';
    default:
      return undefined;
  }
}

/** One manifest line: JSON, with the name percent-escaped so that any byte survives and
 * diffs stay readable. Field order is fixed so that equal metadata gives equal bytes. */
export function metaLine(name: string, m: Meta): string {
  const o: Record<string, unknown> = {
    name: escapeName(name),
    kind: m.kind,
    mode: m.mode.toString(8).padStart(4, '0'),
    uid: m.uid,
    gid: m.gid,
  };
  if (m.user !== undefined) o.user = m.user;
  if (m.group !== undefined) o.group = m.group;
  if (m.size !== undefined) o.size = m.size;
  if (m.mtime !== undefined) o.mtime = m.mtime;
  if (m.rdev) o.rdev = m.rdev;
  if (m.link !== undefined) o.link = escapeName(m.link);
  if (m.xattrs && Object.keys(m.xattrs).length) o.xattrs = sortKeys(m.xattrs);
  if (m.digest !== undefined) o.digest = m.digest;
  if (m.secret !== undefined) o.secret = m.secret;
  if (m.secretCopy) o.secretCopy = true;
  if (m.skipped !== undefined) o.skipped = m.skipped;
  return JSON.stringify(o);
}

// A snapshot writes each new entry's line twice: in its folder's manifest and in the stat
// cache (without the name). The nameless line is made once per Meta object and the named one
// spliced from it: '{"name":""' is always its start (name is the first field).
const nameless = new WeakMap<Meta, string>();
const EMPTY_NAME = '{"name":""';

/** metaLine, made once per Meta object (a Meta must not change after it is written out). */
export function metaLineOf(name: string, m: Meta): string {
  let line = nameless.get(m);
  if (line === undefined) {
    line = metaLine('', m);
    nameless.set(m, line);
  }
  return name === '' ? line : '{"name":' + JSON.stringify(escapeName(name)) + line.slice(EMPTY_NAME.length);
}

/** Says that `line` is metaLine('', m) (read back from where it was written): metaLineOf
 * then uses it instead of making a copy (~8 MB at 50k files in trail watch). */
export function knownMetaLine(m: Meta, line: string): Meta {
  nameless.set(m, line);
  return m;
}

/** How an entry was recorded, as far as the rules decide it: its kind, whether by digest
 * only, whether as a secret. Read from its unparsed line when it has one (a cache of 200k
 * entries checked against new rules would otherwise parse and keep every Meta): in a line
 * from metaLine, `,"digest":` and `,"secret":` can only be keys (a quote inside a string value
 * is escaped), and the kind comes right after the empty name. */
export function recordedAs(e: { meta: Meta; line?: string }): { kind: Kind; digest: boolean; secret: boolean } {
  const line = e.line;
  if (line === undefined)
    return { kind: e.meta.kind, digest: e.meta.digest !== undefined, secret: e.meta.secret !== undefined };
  const at = NAMELESS_KIND.length;
  return {
    kind: line.startsWith(NAMELESS_KIND) ? (line.slice(at, line.indexOf('"', at)) as Kind) : e.meta.kind,
    digest: line.includes(',"digest":'),
    secret: line.includes(',"secret":'),
  };
}

const NAMELESS_KIND = '{"name":"","kind":"';

export function parseMetaLine(line: string): { name: string; meta: Meta } {
  const o = JSON.parse(line) as Record<string, unknown>;
  const meta: Meta = {
    kind: o.kind as Kind,
    mode: parseInt(String(o.mode), 8),
    uid: Number(o.uid),
    gid: Number(o.gid),
  };
  if (typeof o.user === 'string') meta.user = o.user;
  if (typeof o.group === 'string') meta.group = o.group;
  if (typeof o.size === 'number') meta.size = o.size;
  if (typeof o.mtime === 'number') meta.mtime = o.mtime;
  if (Array.isArray(o.rdev)) meta.rdev = [Number(o.rdev[0]), Number(o.rdev[1])];
  if (typeof o.link === 'string') meta.link = unescapeName(o.link);
  if (o.xattrs && typeof o.xattrs === 'object') meta.xattrs = o.xattrs as Record<string, string>;
  if (typeof o.digest === 'string') meta.digest = o.digest;
  if (typeof o.secret === 'string') meta.secret = o.secret;
  if (o.secretCopy === true) meta.secretCopy = true;
  if (typeof o.skipped === 'string') meta.skipped = o.skipped;
  return { name: unescapeName(String(o.name)), meta };
}

const MANIFEST_HEADER = '# trail manifest 1: one JSON line per entry; "." is the directory itself';

/** The manifest of one directory: the directory itself ('.') and its direct children. */
export function serializeManifest(self: Meta, children: [string, Meta][]): Buffer {
  const lines = [MANIFEST_HEADER, metaLineOf('.', self)];
  const sorted = [...children].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [name, m] of sorted) lines.push(metaLineOf(name, m));
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

export function parseManifest(data: Buffer): { self?: Meta; children: [string, Meta][] } {
  let self: Meta | undefined;
  const children: [string, Meta][] = [];
  for (const line of data.toString('utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const { name, meta } = parseMetaLine(line);
    if (name === '.') self = meta;
    else children.push([name, meta]);
  }
  return { self, children };
}

/** Equal for the purpose of "did this path change?" — mtime alone is not a change. */
export function sameMeta(a: Meta, b: Meta): boolean {
  return (
    a.kind === b.kind &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.link === b.link &&
    a.secret === b.secret &&
    a.digest === b.digest &&
    a.skipped === b.skipped &&
    String(a.rdev) === String(b.rdev) &&
    JSON.stringify(sortKeys(a.xattrs ?? {})) === JSON.stringify(sortKeys(b.xattrs ?? {}))
  );
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}

export function kindOfStat(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char';
  return 'block';
}

/** Linux dev_t → [major, minor] (glibc's encoding). */
export function splitDev(rdev: number): [number, number] {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return [major, minor >>> 0];
}
