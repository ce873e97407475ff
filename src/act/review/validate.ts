import { lstatSync } from 'node:fs';
import { asList, readConfig } from '../../record/repo/settings.js';
import { diffStates, type Change } from '../../record/model/diff.js';
import { META_DIR, unescapeContentName } from '../../record/tree/layout.js';
import { readState } from '../../record/tree/tree-reader.js';
import type { Repo } from '../../record/repo/repo.js';
import { makeRules } from '../../record/list/rules.js';
import { abs } from '../../record/scanner.js';
import type { State } from '../../record/model/state.js';
import { readPolicy, scanRules } from '../../decide/store.js';
import { display } from '../../util/bytes.js';
import type { ReviewRemote } from './remote.js';
import { groupName, userName } from '../../util/accounts.js';
import type { Meta } from '../../record/model/meta.js';

export interface Validation {
  ok: boolean;
  problems: string[];
  changes: Change[];
}

/** A name git or the filesystem would treat as something else: `..` climbs out, `.git` is a
 * repository (and its case and NTFS/HFS variants are too, on some systems). */
function badComponent(c: string): string | undefined {
  if (c === '' || c === '.' || c === '..') return `"${c}" component`;
  if (/^\.git[. ]*$/i.test(c) || /^git~\d+$/i.test(c)) return '.git entry';
  if (c.includes('\0')) return 'NUL in name';
  return undefined;
}

const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';
const CAPABILITY = 'security.capability';
// Tags of a POSIX ACL entry (linux/posix_acl_xattr.h): named users, the owning group, named
// groups, and "other".
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_GROUP = 0x08;
const ACL_OTHER = 0x20;

interface AclEntry {
  tag: number;
  perm: number;
  id: number;
}

/** The entries of a POSIX ACL xattr (base64, as recorded): a version 2 header, then 8 bytes
 * per entry (tag, permissions, uid/gid, little-endian). Undefined when it is none. */
function parseAcl(base64: string): AclEntry[] | undefined {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length < 4 || (raw.length - 4) % 8 !== 0 || raw.readUInt32LE(0) !== 2) return undefined;
  const out: AclEntry[] = [];
  for (let at = 4; at < raw.length; at += 8)
    out.push({ tag: raw.readUInt16LE(at), perm: raw.readUInt16LE(at + 2), id: raw.readUInt32LE(at + 4) });
  return out;
}

/** Whether anyone may write it: other's w bit, in the mode or in an access ACL (which sets the
 * mode's other bits when it is applied). A symlink's mode means nothing. */
function worldWritable(m: Meta): boolean {
  if (m.kind === 'symlink') return false;
  const acl = m.xattrs?.[ACL_ACCESS] ? parseAcl(m.xattrs[ACL_ACCESS]) : undefined;
  return (m.mode & 0o002) !== 0 || !!acl?.some((e) => e.tag === ACL_OTHER && e.perm & 2);
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const rwx = (perm: number) => (perm & 4 ? 'r' : '-') + (perm & 2 ? 'w' : '-') + (perm & 1 ? 'x' : '-');

/**
 * Whether a state that arrived from GitHub may be applied to this host: nothing outside the
 * watched directory (no `..`, absolute paths, writes through symlinks), no hard links but to a
 * regular file of the same tree that is no secret, no `.git` entries, no submodules, no device
 * nodes, no setuid/setgid bits or capabilities unless allowed, no owners outside
 * review.allowOwners nor ACL entries for them, nothing newly world-writable, no xattrs but ACLs
 * and capabilities set, none but capabilities and harmless ACLs removed, no secret paths (their content never comes from GitHub). Every problem is
 * listed; one is enough to refuse the whole change.
 */
export async function validateIncoming(
  repo: Repo,
  remote: ReviewRemote,
  from: string,
  to: string,
): Promise<Validation> {
  const problems: string[] = [];
  // The raw tree first: what readState would silently skip or reinterpret.
  const ls = await repo.git(['ls-tree', '-r', '-t', '-z', '--full-tree', to]);
  const contentPaths: string[] = [];
  for (const rec of ls.stdout.toString('latin1').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type] = rec.slice(0, tab).split(' ');
    const path = rec.slice(tab + 1);
    if (path.startsWith('/')) problems.push(`${display(path)}: absolute path`);
    for (const c of path.split('/')) {
      const bad = badComponent(c);
      if (bad) problems.push(`${display(path)}: ${bad}`);
    }
    if (mode === '160000' || type === 'commit') problems.push(`${display(path)}: a submodule`);
    if (type === 'blob' && !path.startsWith(META_DIR + '/'))
      contentPaths.push(
        path
          .split('/')
          .map((n, i) => unescapeContentName(n, i === 0))
          .join('/'),
      );
  }
  let before: State;
  let after: State;
  try {
    [before, after] = await Promise.all([readState(repo, from), readState(repo, to)]);
  } catch (err) {
    problems.push(`the manifests cannot be read: ${(err as Error).message.split('\n')[0]}`);
    return { ok: false, problems, changes: [] };
  }
  for (const p of contentPaths) {
    if (!after.has(p))
      problems.push(
        `${display(p)}: content without a manifest entry (add it to ${META_DIR}/meta/…/@meta, or it would be ignored)`,
      );
  }
  const changes = diffStates(before, after);
  const config = await readConfig(repo);
  const rules = makeRules(asList(config.ignore), asList(config.secrets), scanRules(await readPolicy(repo)));
  const allowed = new Set(remote.allowOwners);
  /** Why a write to `path` would not stay in the watched dir: a folder above it that is not
   * a real folder, in the new state or on disk. */
  const through = (path: string): string[] => {
    const out: string[] = [];
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const want = after.get(dir);
      if (want && want.meta.kind !== 'dir') out.push(`goes through ${display(dir)}, a ${want.meta.kind} in the change`);
      const st = lstatSync(abs(repo.info.dir, dir), { throwIfNoEntry: false });
      if (st && !st.isDirectory())
        out.push(`goes through ${display(dir)}, ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'} on this host`);
    }
    return out;
  };
  for (const c of changes) {
    const path = c.path;
    const shown = display(path);
    if (path.startsWith('/')) problems.push(`${shown}: absolute path`);
    for (const comp of path.split('/')) {
      const bad = badComponent(comp);
      if (bad) problems.push(`${shown}: ${bad}`);
    }
    if (rules.secret(path) || c.before?.secret || c.after?.secret)
      problems.push(`${shown}: a secret path (its content never comes from GitHub)`);
    // Every folder above the path must be a real folder, in the new state and on disk, or a
    // write would land wherever a symlink points.
    for (const why of through(path)) problems.push(`${shown}: ${why}`);
    const a = c.after;
    if (!a) continue;
    // A hard link is made from the path it names (restore links it in place of writing the
    // content): that path must be a regular file of this very tree, reached without a
    // symlink, and no secret, or the link would bring in any file of the filesystem, or a
    // secret's bytes under a name that is recorded and published.
    if (a.link !== undefined) {
      const link = a.link;
      const linkShown = `hard link to ${display(link)}`;
      const bad = link.startsWith('/') ? 'absolute path' : link.split('/').map(badComponent).find(Boolean);
      if (bad) problems.push(`${shown}: ${linkShown}: not a plain relative path (${bad})`);
      else {
        const src = after.get(link);
        if (link === path) problems.push(`${shown}: ${linkShown}: a link to itself`);
        else if (!src || src.meta.kind !== 'file' || src.meta.skipped !== undefined)
          problems.push(
            `${shown}: ${linkShown}: ${src ? `a ${src.meta.skipped !== undefined ? 'skipped entry' : src.meta.kind}` : 'no such entry'} in the change, not a regular file`,
          );
        if (rules.secret(link) || src?.meta.secret !== undefined || src?.meta.secretCopy)
          problems.push(`${shown}: ${linkShown}: a secret path (its content would be published under another name)`);
        for (const why of through(link)) problems.push(`${shown}: ${linkShown}: ${why}`);
      }
    }
    const b = c.before;
    if (a.kind === 'char' || a.kind === 'block' || a.kind === 'socket' || a.kind === 'fifo') {
      if (!b || b.kind !== a.kind || String(b.rdev) !== String(a.rdev))
        problems.push(`${shown}: a ${a.kind} device or special file`);
    }
    const special = a.mode & 0o6000;
    if (special && (!b || (b.mode & 0o6000) !== special) && !remote.allowSetuid)
      problems.push(
        `${shown}: sets ${special & 0o4000 ? 'setuid' : ''}${special === 0o6000 ? '+' : ''}${special & 0o2000 ? 'setgid' : ''} (review.allowSetuid is false)`,
      );
    // Access for others, like setuid: what the host already had may stay, nothing more comes
    // from a review. A world-writable file or folder lets anyone on the host change what the
    // trail guards (a sticky folder too: anyone may add a file to it, a cron.d or a sudoers.d).
    if (worldWritable(a)) {
      const had = b !== undefined && b.kind === a.kind && worldWritable(b);
      if (!had) problems.push(`${shown}: world-writable (mode ${octal(a.mode)}), which it was not`);
      else if (a.kind === 'dir' && b.mode & 0o1000 && !(a.mode & 0o1000))
        problems.push(`${shown}: drops the sticky bit of a world-writable folder (mode ${octal(a.mode)})`);
    }
    for (const [name, value] of Object.entries(a.xattrs ?? {})) {
      if (value === b?.xattrs?.[name]) continue; // as it is on this host already
      if (name === CAPABILITY) {
        if (!remote.allowSetuid) problems.push(`${shown}: adds file capabilities (review.allowSetuid is false)`);
      } else if (name === ACL_ACCESS || name === ACL_DEFAULT) {
        const which = name === ACL_ACCESS ? 'ACL' : 'default ACL';
        const acl = parseAcl(value);
        if (!acl) {
          problems.push(`${shown}: ${name} is not a POSIX ACL`);
          continue;
        }
        const was = parseAcl(b?.xattrs?.[name] ?? '') ?? [];
        // An entry the host's ACL had, with no permission it lacked, may stay.
        const more = (e: AclEntry) => !was.some((h) => h.tag === e.tag && h.id === e.id && (e.perm & ~h.perm) === 0);
        for (const e of acl) {
          if (e.tag !== ACL_USER && e.tag !== ACL_GROUP) continue;
          const who = e.tag === ACL_USER ? userName(e.id) : groupName(e.id);
          if (allowed.has(String(e.id)) || (who !== undefined && allowed.has(who)) || !more(e)) continue;
          problems.push(
            `${shown}: its ${which} gives ${e.tag === ACL_USER ? 'user' : 'group'} ${who ?? e.id} access (not in review.allowOwners)`,
          );
        }
        // The access ACL's "other" entry is the mode's other bits (checked above); the default
        // one is what every file made in the folder later gets.
        if (name === ACL_DEFAULT && acl.some((e) => e.tag === ACL_OTHER && e.perm & 2 && more(e)))
          problems.push(`${shown}: its default ACL makes what is created in it world-writable`);
      } else problems.push(`${shown}: sets xattr ${name} (a review sets only POSIX ACLs and file capabilities)`);
    }
    // Taking an xattr away can open access as surely as setting one (restore removes what the
    // target lacks). Dropping file capabilities only takes privilege away.
    for (const [name, value] of Object.entries(b?.xattrs ?? {})) {
      if (a.xattrs?.[name] !== undefined || name === CAPABILITY) continue;
      if (name === ACL_ACCESS) {
        // With an ACL the mode's group bits are its mask; without one they are what the owning
        // group may do. The ACL's own entry for that group may have been less.
        const had = parseAcl(value)?.find((e) => e.tag === ACL_GROUP_OBJ)?.perm;
        const now = (a.mode >> 3) & 7;
        if (had !== undefined && a.kind !== 'symlink' && now & ~had)
          problems.push(
            `${shown}: drops its ACL, which gives its group ${a.group ?? a.gid} ${rwx(now)} (the ACL gave it ${rwx(had)})`,
          );
      } else if (name === ACL_DEFAULT)
        problems.push(
          `${shown}: drops its default ACL (what is made in it later would get its maker's umask instead; change that on the host)`,
        );
      else problems.push(`${shown}: removes xattr ${name} (a review changes only POSIX ACLs and file capabilities)`);
    }
    // The restore chowns to the ids; the names in the manifest are the PR's word. So an owner
    // is allowed by its id, or by the name this host gives that id.
    const owner = (what: 'owner' | 'group', id: number, claimed: string | undefined, here: string | undefined) => {
      if (allowed.has(String(id)) || (here !== undefined && allowed.has(here))) return;
      const name = claimed ?? String(id);
      problems.push(
        allowed.has(name)
          ? `${shown}: ${what} ${name}: id ${id} ${here === undefined ? 'has no name' : `is ${here}`} on this host, not in review.allowOwners`
          : `${shown}: ${what} ${name} is not in review.allowOwners`,
      );
    };
    if (!b || b.uid !== a.uid || b.user !== a.user) owner('owner', a.uid, a.user, userName(a.uid));
    if (!b || b.gid !== a.gid || b.group !== a.group) owner('group', a.gid, a.group, groupName(a.gid));
  }
  return { ok: problems.length === 0, problems: [...new Set(problems)], changes };
}
