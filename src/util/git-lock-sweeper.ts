// Finds git's own lock files in a shadow repository that nobody holds any more, and removes
// them before trail writes. git locks a file by creating `<file>.lock` with O_EXCL and
// renaming it over the file when done; a git killed in between (kill -9 of trail's process
// group, a power cut) leaves the lock behind, and every later git write of that file fails
// with "Unable to create '….lock': File exists" until a person removes it by hand.
//
// Who may hold a lock: trail runs its git children under its own locks (the writer lock, the
// anchor lock), so a sweep runs where no git of the caller's kind can be running. Any other
// process is looked for in /proc: a git whose command line, working directory, GIT_DIR or
// open files point into the repository may be holding a lock (git closes a ref's lock file
// as soon as it has written it, so an open descriptor alone proves nothing). A lock with such
// a process alive is waited for, bounded; a lock without one is stale and is removed with one
// log line naming it.
import { promises as fsp, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Exit, TrailError, errorCode } from './errors.js';

export interface SweepOptions {
  /** Which locks this caller's writes depend on (paths relative to the git dir); all of them
   * when absent. */
  only?: (rel: string) => boolean;
  /** How long a lock that a live process may hold is waited for before giving up. */
  waitMs?: number;
  /** One line per removed lock, one when a wait starts. Default: stderr, as trail's warnings. */
  log?: (line: string) => void;
}

/** A lock younger than this may belong to one of trail's long-lived helpers in the middle of
 * a ref transaction (which lasts milliseconds); an older one cannot. */
const HELPER_GRACE_MS = 2_000;
const POLL_MS = 100;

/** git subcommands that never take a lock: a long `git log` in a pager does not block trail. */
const READ_ONLY = new Set([
  'blame',
  'cat-file',
  'describe',
  'diff',
  'diff-tree',
  'for-each-ref',
  'fsck',
  'grep',
  'log',
  'ls-files',
  'ls-remote',
  'ls-tree',
  'merge-base',
  'name-rev',
  'rev-list',
  'rev-parse',
  'show',
  'show-ref',
  'upload-pack',
  'var',
  'verify-pack',
  'version',
]);

/** git subcommands that write objects only (through temporary files), never a ref or the
 * config: the background repack does not hold up a commit that finds a stale ref lock. */
const OBJECTS_ONLY = new Set([
  'hash-object',
  'index-pack',
  'multi-pack-index',
  'pack-objects',
  'prune-packed',
  'repack',
  'unpack-objects',
  'commit-graph',
]);

/** git's global options that take the next word as their value. */
const VALUE_OPTIONS = new Set(['-c', '-C', '--git-dir', '--work-tree', '--namespace', '--config-env', '--exec-path']);

interface Candidate {
  rel: string;
  path: string;
  ino: number;
  mtimeMs: number;
}

interface GitProcess {
  pid: number;
  argv: string[];
  /** trail's own long-lived `update-ref --stdin`: holds ref locks only within a transaction. */
  helper: boolean;
  /** Locks only under objects/ (repack and its kind). */
  objectsOnly: boolean;
}

/**
 * Removes stale git locks in `gitDir` and waits (bounded) for live ones. Returns the removed
 * locks' paths relative to the git dir.
 */
export async function sweepGitLocks(gitDir: string, opts: SweepOptions = {}): Promise<string[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`trail: ${line}\n`));
  const deadline = Date.now() + (opts.waitMs ?? 10_000);
  const removed: string[] = [];
  let announced = false;
  for (;;) {
    const locks = (await findLocks(gitDir)).filter((l) => !opts.only || opts.only(l.rel));
    if (!locks.length) return removed;
    const procs = await gitProcessesIn(gitDir);
    const now = Date.now();
    const waiting: { lock: Candidate; by: GitProcess[] }[] = [];
    for (const lock of locks) {
      const by = procs.filter(
        (p) =>
          (!p.objectsOnly || lock.rel.startsWith('objects/')) && (!p.helper || now - lock.mtimeMs < HELPER_GRACE_MS),
      );
      if (by.length) waiting.push({ lock, by });
      else if (await removeIfSame(gitDir, lock)) {
        removed.push(lock.rel);
        log(`removed a stale git lock ${lock.path} (no process holds it: a git killed or crashed while writing)`);
      }
    }
    if (!waiting.length) continue; // look again: removing may have been raced by a new lock
    const first = waiting[0]!;
    const who = first.by.map((p) => `process ${p.pid} (${describe(p.argv)})`).join(', ');
    if (Date.now() >= deadline)
      throw new TrailError(
        `git lock ${first.lock.path} is held: ${who} works in ${gitDir}`,
        Exit.busy,
        'try again once it has finished, or stop it',
      );
    if (!announced) {
      announced = true;
      log(`waiting for ${who}, which may hold the git lock ${first.lock.path}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Every `*.lock` git may leave in a repository: at the top (HEAD, config, packed-refs, index,
 * shallow, …), under refs/ and logs/ (refs, reflogs, notes refs), and under objects/info/ and
 * objects/pack/ (commit-graph, multi-pack-index). Also the `.keep` that fast-import,
 * receive-pack and fetch-pack put on a pack while they work, which would otherwise pin the
 * pack against every repack. Loose object folders hold no locks (git writes objects through
 * temporary files) and are not read: they can hold hundreds of thousands of files. trail's
 * own state (trail/) has its own locks.
 */
async function findLocks(gitDir: string): Promise<Candidate[]> {
  const rels: string[] = [];
  const walk = async (rel: string, deep: boolean): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(join(gitDir, rel), { withFileTypes: true });
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (deep) await walk(r, true);
      } else if (e.name.endsWith('.lock') || (rel === 'objects/pack' && e.name.endsWith('.keep'))) rels.push(r);
    }
  };
  await walk('', false);
  for (const dir of ['refs', 'logs', 'objects/info', 'info']) await walk(dir, true);
  await walk('objects/pack', false);
  const found: Candidate[] = [];
  for (const rel of rels) {
    const path = join(gitDir, rel);
    const st = await fsp.lstat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (rel.endsWith('.keep') && !(await transientKeep(path))) continue;
    found.push({ rel, path, ino: st.ino, mtimeMs: st.mtimeMs });
  }
  return found;
}

/** A `.keep` git writes for the time of one command, as opposed to one a person made to keep
 * a pack for good (which is left alone). */
async function transientKeep(path: string): Promise<boolean> {
  const text = await fsp.readFile(path, 'utf8').catch(() => '');
  return /^(fast-import|(receive-pack|fetch-pack) \d+ on )/.test(text);
}

/** Removes the lock only if it is still the file that was judged stale: a process started
 * since the look into /proc may have taken the same lock afresh. */
async function removeIfSame(gitDir: string, lock: Candidate): Promise<boolean> {
  const grave = join(gitDir, 'trail', `.stale-git-lock.${process.pid}`);
  await fsp.mkdir(join(gitDir, 'trail'), { recursive: true, mode: 0o700 });
  try {
    await fsp.rename(lock.path, grave);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false; // its holder finished, or another sweep
    throw err;
  }
  const st = await fsp.lstat(grave);
  if (st.ino !== lock.ino) {
    // Not the one judged: put it back (unless yet another took its place meanwhile).
    await fsp.link(grave, lock.path).catch(() => {});
    await fsp.rm(grave, { force: true });
    return false;
  }
  await fsp.rm(grave, { force: true });
  return true;
}

/** Live git processes (other than this one) that work in `gitDir` and may write. */
async function gitProcessesIn(gitDir: string): Promise<GitProcess[]> {
  const dirs = new Set([resolve(gitDir)]);
  const real = await fsp.realpath(gitDir).catch(() => undefined);
  if (real) dirs.add(real);
  const inside = (p: string | undefined) =>
    !!p && [...dirs].some((d) => p === d || p.startsWith(d.endsWith('/') ? d : d + '/'));

  let pids: string[];
  try {
    pids = (await fsp.readdir('/proc')).filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
  } catch {
    throw new TrailError(
      `cannot look for processes holding git locks in ${gitDir}: /proc is not readable`,
      Exit.error,
      'remove the lock files by hand once no git runs in that repository',
    );
  }
  const found: GitProcess[] = [];
  for (const pid of pids) {
    const proc = `/proc/${pid}`;
    // Read synchronously: /proc answers from memory, and a few hundred small reads through the
    // thread pool took a quarter of a second on a busy machine instead of a few milliseconds.
    // Every git program's name starts with "git" (git, git-remote-http, git-upload-pack…).
    if (!readSmall(`${proc}/comm`).startsWith('git')) continue;
    const argv = readSmall(`${proc}/cmdline`)
      .split('\0')
      .filter((a, i, all) => a !== '' || i < all.length - 1);
    const sub = subcommand(argv);
    if (sub && READ_ONLY.has(sub)) continue;
    if (!(await worksIn(proc, argv, inside))) continue;
    const reason = argv[argv.indexOf('-m') + 1] ?? '';
    const helper = sub === 'update-ref' && argv.includes('--stdin') && reason.startsWith('trail: ');
    found.push({ pid: Number(pid), argv, helper, objectsOnly: !!sub && OBJECTS_ONLY.has(sub) });
  }
  return found;
}

function readSmall(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // gone meanwhile, or not ours to read
  }
}

/** Whether a process's command line, working directory, git environment or open files point
 * into the repository. What cannot be read (another user's process) counts as not. */
async function worksIn(proc: string, argv: string[], inside: (p: string | undefined) => boolean): Promise<boolean> {
  const cwd = await fsp.readlink(`${proc}/cwd`).catch(() => undefined);
  if (inside(cwd)) return true;
  for (const a of argv.slice(1)) {
    const v = a.startsWith('--git-dir=') ? a.slice('--git-dir='.length) : a;
    if (v.includes('/') && inside(resolve(cwd ?? '/', v))) return true;
  }
  const environ = await fsp.readFile(`${proc}/environ`, 'utf8').catch(() => '');
  for (const kv of environ.split('\0')) {
    const m = /^(GIT_DIR|GIT_COMMON_DIR|GIT_OBJECT_DIRECTORY)=(.+)$/.exec(kv);
    if (m && inside(resolve(cwd ?? '/', m[2]!))) return true;
  }
  const fds = await fsp.readdir(`${proc}/fd`).catch(() => [] as string[]);
  for (const fd of fds) if (inside(await fsp.readlink(`${proc}/fd/${fd}`).catch(() => undefined))) return true;
  return false;
}

/** The git subcommand of a command line (`git --git-dir X -c k=v update-ref …` → update-ref);
 * for git-<name> programs (git-receive-pack, git-remote-http) the name after "git-". */
function subcommand(argv: string[]): string | undefined {
  const prog = basename(argv[0] ?? '');
  if (prog.startsWith('git-')) return prog.slice(4);
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function describe(argv: string[]): string {
  const text = argv.join(' ');
  return text.length > 120 ? text.slice(0, 117) + '...' : text;
}
