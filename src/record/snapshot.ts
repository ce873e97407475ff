// A snapshot, stage by stage: list → read (scanner.ts) → store objects (the writer) → trees
// (tree/tree-saver.ts) → commit (commit/) → refs, then the stat cache. Only the wiring is here;
// each stage's work is in its room (see README.md). TRAIL_TIMING=1 names the phases.
import { readConfig, type Config } from './repo/settings.js';
import { snapshotMessage, writeCommit, type Actor } from './commit/commit.js';
import { partOf } from './commit/parts.js';
import { writeSecretsCommit } from './commit/secrets-writer.js';
import { diffStates, type Change } from './model/diff.js';
import { HashOnlyWriter, type ObjectWriter } from './store/object-writer.js';
import { startBackgroundRepack } from './store/maintenance.js';
import { Refs, type Repo } from './repo/repo.js';
import { loadRules, maxFileSizeOf, recordingRules } from './list/rules-loader.js';
import { rulesDigest } from './list/rules.js';
import { checkIndex, nativeCheck } from './list/index-check.js';
import { ReadPool, threadsAllowed } from './read/read-pool.js';
import { scan, type ScanResult } from './scanner.js';
import { list, listsOnThreads, type ListingWithThreads, type Unchanged } from './list/lister.js';
import { secretKey } from './read/secrets.js';
import { expectedEntries, loadCache, loadStatIndex, refreshCache, saveCache, type Cached } from './model/stat-cache.js';
import type { State } from './model/state.js';
import { writeSnapshotTree } from './tree/tree-saver.js';
import { phase } from '../util/timing.js';
import { promises as fsp } from 'node:fs';
import { insideAny } from './list/roots.js';
import { abs } from './list/walker.js';

export interface RecordOptions {
  /** A function gets the changes found, for callers that learn what changed only here. */
  subject: string | ((changes: Change[]) => string);
  actor: Actor;
  /** What made this commit: init, snapshot, revert, watch… (the Trail-Action trailer). */
  action: string;
  body?: string[];
  trailers?: Record<string, string | undefined>;
  full?: boolean;
  roots?: string[];
  allowEmpty?: boolean;
  /** The object writer; by default one suited to the expected number of objects. */
  writer?: ObjectWriter;
  onProgress?: (done: number, total: number) => void;
}

export interface RecordResult {
  /** The new commit, or undefined when nothing changed. */
  commit?: string;
  parent?: string;
  changes: Change[];
  scan: ScanResult;
  state: State;
}

/** What a snapshot recorded, without the state (what `trail snapshot` reports and the policy
 * acts on; recordIfChanged answers an unchanged tree without loading it). */
export type Recorded = Omit<RecordResult, 'state'>;

interface AgainstHead {
  full?: boolean;
  roots?: string[];
  writer?: ObjectWriter;
  hashOnly?: boolean;
  listing?: Promise<ListingWithThreads>;
  /** When `listing` was started (Date.now(), before it): the scan's start. */
  started?: number;
  onProgress?: (d: number, t: number) => void;
}

/** The disk scanned against the trail's head: the cache of the head, the scan, its writer,
 * and when the scan started (before anything was listed): the time the stat cache judges
 * racy entries against (model/stat-cache.ts). */
async function scanAgainstHead(repo: Repo, config: Config, opts: AgainstHead) {
  const started = opts.started ?? Date.now();
  const head = await repo.readRef(Refs.observed);
  phase('start');
  const rules = await loadRules(repo, config);
  // A big tree is listed on threads while this one loads the cache.
  const listing =
    opts.listing ??
    (opts.roots ? undefined : list({ root: repo.info.dir, rules }, [''], await expectedEntries(repo, head)));
  const cached = await loadCache(repo, head).catch(async (err: unknown) => {
    await listing?.then(
      (l) => l.threads?.close(),
      () => {},
    );
    throw err;
  });
  phase('cache loaded');
  const writer = await writerFor(repo, cached, opts);
  const maxFileSize = maxFileSizeOf(config);
  // Rules changed since the cache was recorded (or not known to be the same): a file not
  // touched since may be recorded otherwise now (named a secret since, say), so the whole
  // tree is looked at, not only the roots (read/reader.ts re-reads what differs). A cache
  // rebuilt from the commit has no stat data to trust: a whole scan would read every file.
  // Roots that touch a hard-link group widen it too (see touchesLinks), warm cache or not.
  const widen =
    (cached.warm && cached.rules !== rulesDigest(rules, maxFileSize)) ||
    (!!opts.roots && (await touchesLinks(repo.info.dir, cached.state, opts.roots)));
  const key = await secretKey(repo);
  const scanUnder = (roots: string[] | undefined) =>
    scan({
      root: repo.info.dir,
      rules,
      previous: cached.state,
      previousRules: cached.rules,
      full: opts.full,
      writer,
      secretKey: key,
      maxFileSize,
      roots,
      listing,
      onProgress: opts.onProgress,
    });
  const result = await (async () => {
    const under = await scanUnder(widen ? undefined : opts.roots);
    if (!under.looked) return under;
    if (!(await madeLinked(repo.info.dir, cached.state, under))) {
      // No path looked at was in a group, and none is a file with other links now: the new
      // state's groups are the recorded ones (not made again per commit: 15–30 ms at 200k).
      sameLinkGroups(cached.state, under.state);
      return under;
    }
    // A file made anew that has other links (a new link in a folder root, or one made since
    // the roots were looked at): a whole scan after all. The writer skips what it has.
    phase('a hard link under the roots: the whole tree');
    return scanUnder(undefined);
  })().catch(async (err: unknown) => {
    await writer.abort?.();
    throw err;
  });
  phase('scanned');
  return { head, cached, result, writer, started };
}

/**
 * Whether a scan under `roots` could record a hard-link group otherwise than a whole scan
 * would: the reader names as `link` the first path listed of an inode among the paths it
 * lists, and a write through one link changes every link's content while the events name
 * only the path written through; removing or moving the first link leaves the others naming
 * it. So the roots touch a group when a root is now a file with other links, or when a
 * recorded entry under them is part of a recorded group (it has a `link`, or another entry
 * links to it). Hard links are rare in a watched tree (/etc): a whole scan then.
 */
async function touchesLinks(dir: string, recorded: State, roots: string[]): Promise<boolean> {
  const groups = linkGroups(recorded);
  if (groups.size) {
    const inRoots = insideAny(roots);
    for (const p of groups) if (inRoots(p)) return true;
  }
  return linked(dir, roots, recorded, groups);
}

/** Whether a scan under roots made a file entry anew that has other links now (a root made a
 * link since it was looked at, or a new link in a folder root). */
async function madeLinked(dir: string, recorded: State, result: ScanResult): Promise<boolean> {
  const made = (result.looked ?? []).filter((p) => {
    const e = result.state.get(p);
    return !!e && e !== recorded.get(p) && e.meta.kind === 'file';
  });
  return linked(dir, made, recorded, linkGroups(recorded));
}

/**
 * Whether one of `paths` is now a file with more than one link, other than one whose other
 * links are all outside the tree: recorded as this very inode, and in no recorded group. A
 * link made in the tree since is a new path, which events name (and which then widens the
 * scan); without this, each write to a file linked from outside (which trail watch now hears
 * of, see Reader.linkedOutside) was a whole scan.
 */
async function linked(dir: string, paths: string[], recorded: State, groups: Set<string>): Promise<boolean> {
  const stats = await Promise.all(paths.map((p) => fsp.lstat(abs(dir, p)).catch(() => undefined)));
  return stats.some((st, i) => {
    if (!st?.isFile() || st.nlink < 2) return false;
    const was = recorded.get(paths[i]!);
    const id = was?.stat ?? was?.inode;
    const alone = !groups.has(paths[i]!) && was?.meta.kind === 'file' && id?.ino === st.ino && id.dev === st.dev;
    return !alone;
  });
}

const linkGroupsOf = new WeakMap<State, Set<string>>();

/** The paths of a recorded state that are part of a hard-link group: those with a `link`
 * and those linked to. Made once per state (one that is not changed after, as filesIn), from
 * the unparsed lines of the entries read back from the stat cache: a line from metaLine can
 * hold `,"link":` only as its key (a quote inside a string value is escaped), so only the few
 * entries that have one are parsed. */
function linkGroups(state: State): Set<string> {
  let groups = linkGroupsOf.get(state);
  if (groups) return groups;
  groups = new Set();
  for (const [p, e] of state) {
    if (e.line !== undefined && !e.line.includes(',"link":')) continue;
    const link = e.meta.link;
    if (link === undefined) continue;
    groups.add(p);
    groups.add(link);
  }
  linkGroupsOf.set(state, groups);
  return groups;
}

/** `to` differs from `from` only where a scan under roots that touched no group looked: the
 * same groups. */
function sameLinkGroups(from: State, to: State): void {
  const groups = linkGroupsOf.get(from);
  if (groups) linkGroupsOf.set(to, groups);
}

/** A cold cache means every file is read again: that is a batch, and a pack wins. Many bytes
 * of blobs are stored, not compressed (zlib level 0): level 1 cost ~6 s of CPU at 50k files,
 * more than everything else together; background maintenance compresses them later. */
async function writerFor(repo: Repo, cached: Cached, opts: AgainstHead): Promise<ObjectWriter> {
  if (opts.hashOnly) return new HashOnlyWriter();
  return opts.writer ?? (await writers()).chooseWriter(repo.gitDir, cached.warm ? 0 : Infinity, { level: 'auto' });
}

/** The loose and pack writers (seven modules) load only when a snapshot writes: status, which
 * only hashes, is spared loading them (measured: ~10 ms of CPU per command). */
const writers = () => import('./store/adaptive-writer.js');

/**
 * What differs between the disk and the trail's last commit, without writing anything.
 * `changesOnly`: the caller needs no state (status): a big tree that matches the stat index
 * is answered from it, without loading the cache (`scan.state` is then empty).
 */
export async function drift(
  repo: Repo,
  opts: { full?: boolean; changesOnly?: boolean; onProgress?: (d: number, t: number) => void } = {},
): Promise<{ head?: string; changes: Change[]; scan: ScanResult }> {
  const config = await readConfig(repo);
  const { started, indexed, byIndex } = await askIndex(repo, config, !!opts.changesOnly && !opts.full);
  if ('unchanged' in byIndex) return byIndex.unchanged;
  const {
    cached,
    result,
    head: compared,
  } = await scanAgainstHead(repo, config, {
    ...opts,
    listing: byIndex.listing,
    started,
    hashOnly: true,
  });
  const changes = diffStates(cached.state, result.state);
  // Nothing changed but files were read again (their stat data had moved: touched, or changed
  // just before the last snapshot), or a big tree did not match its stat index (none yet, or
  // only stat data moved: a folder where a file was made and removed again): the cache is
  // written anew, so that the next status trusts them, as `git status` refreshes its index.
  // Else one folder's mtime would keep every later status off the index until a commit.
  // (--full reads everything: only a cache rebuilt from the commit is worth writing then.)
  const reread = opts.full ? !cached.warm : result.read > 0;
  if (compared && !changes.length && (reread || indexed || cached.rules !== result.rules))
    await refreshCache(repo, compared, result.state, cached.trees, result.rules, started);
  return { head: compared, changes, scan: result };
}

/**
 * What differs under `roots` only, without writing anything: the rest of the tree is taken
 * to be as recorded. For trail watch, whose events name every path that changed since its
 * last commit, this is the answer a whole scan would give (src/watch/query-server.ts).
 * `recorded`: the trail's entries, for the content of what changed (a diff's old side).
 */
export async function driftUnder(
  repo: Repo,
  roots: string[],
): Promise<{ head?: string; changes: Change[]; scan: ScanResult; recorded: State }> {
  const config = await readConfig(repo);
  const { head, cached, result } = await scanAgainstHead(repo, config, { roots, hashOnly: true });
  const changes = diffStates(cached.state, result.state, undefined, result.looked);
  // The scan counted what it looked at; status says how many files the whole tree holds: the
  // recorded state's count (the daemon keeps that state between answers, and the count with
  // it), corrected where the scan looked. Counting the layered state itself at every answer
  // made the daemon's CPU per answer at 200k files 33 ms; 7–9 ms without it (measured).
  let files: number;
  if (result.looked) {
    files = filesIn(cached.state);
    for (const p of result.looked) {
      if (cached.state.get(p)?.meta.kind === 'file') files--;
      if (result.state.get(p)?.meta.kind === 'file') files++;
    }
  } else files = countFiles(result.state);
  return { head, changes, scan: { ...result, files }, recorded: cached.state };
}

const fileCounts = new WeakMap<State, number>();

/** The files of a state that is not changed after it is counted (a loaded, recorded state). */
function filesIn(state: State): number {
  let n = fileCounts.get(state);
  if (n === undefined) fileCounts.set(state, (n = countFiles(state)));
  return n;
}

function countFiles(state: State): number {
  let n = 0;
  for (const e of state.values()) if (e.meta.kind === 'file') n++;
  return n;
}

type Drift = Awaited<ReturnType<typeof drift>>;

/** A whole scan of a big tree asks its stat index first (when `eligible`): `started` is the
 * scan's start (before anything is listed), `indexed` whether the index was asked. */
async function askIndex(repo: Repo, config: Config, eligible: boolean) {
  const started = Date.now();
  const head = await repo.readRef(Refs.observed);
  // A small tree asks it too where the check is in C (at 3k files a status took 0.14 s
  // without it, 0.075 s with it); in JavaScript the check pays off only on threads, from
  // LIST_THREADS_FROM paths. TRAIL_READ_THREADS=never: neither (the tests' small-tree way).
  const indexed =
    eligible && threadsAllowed({}) !== false && (!!nativeCheck() || listsOnThreads(await expectedEntries(repo, head)));
  const byIndex: Awaited<ReturnType<typeof listAgainstIndex>> = indexed
    ? await listAgainstIndex(repo, config, head)
    : { indexed: false };
  return { started, indexed, byIndex };
}

/** A big tree listed against its stat index (the listing's thread starts while the index
 * loads): `unchanged` when it matches and the head did not move meanwhile, else the listing
 * to scan (none without an index). */
async function listAgainstIndex(
  repo: Repo,
  config: Config,
  head: string | undefined,
): Promise<{ unchanged: Drift } | { indexed: boolean; listing?: Promise<ListingWithThreads> }> {
  const pool = new ReadPool('hash');
  // A thread takes ~50 ms to start: started while the index loads, for the listing or the
  // check in JavaScript; the check in C needs none, and an unchanged tree is not listed.
  if (!nativeCheck()) pool.warm(1);
  const index = await loadStatIndex(repo, head);
  if (!index) {
    await pool.close();
    return { indexed: false };
  }
  phase('stat index loaded');
  const { rules, digest } = await recordingRules(repo, config);
  const listing = () => list({ root: repo.info.dir, rules }, [''], index.paths.length, pool);
  // Recorded under other rules (or not known to be these): even a tree that is as indexed
  // may be recorded otherwise now (a file named a secret since), so the scan looks at it, and
  // the refresh after it writes an index under these rules.
  if (index.rules !== digest) return { indexed: true, listing: listing() };
  // Listed under these rules: checked path by path, no folder listed (list/index-check.ts).
  const unchanged = await checkIndex(repo.info.dir, index, pool);
  phase(unchanged ? 'checked the stat index' : 'the stat index differs');
  if (!unchanged) return { indexed: true, listing: listing() };
  await pool.close();
  if ((await repo.readRef(Refs.observed)) !== head) return { indexed: true };
  phase('matched the stat index');
  const nothing: ScanResult = {
    state: new Map(),
    skipped: [],
    digestOnly: [],
    asSecrets: [],
    ignored: 0,
    read: 0,
    rules: digest,
    ...unchanged,
  };
  return { unchanged: { head, changes: [], scan: nothing } };
}

/**
 * Reconciles the disk against the trail's last commit and records what changed as one
 * commit on `observed`. The caller holds the repository's write lock.
 */
export async function record(repo: Repo, opts: RecordOptions): Promise<RecordResult> {
  return recordWith(repo, await readConfig(repo), opts);
}

/**
 * `record` for `trail snapshot` without a daemon (cron's): a big tree is first checked against
 * its stat index, as status does, and an unchanged one costs what a status costs — no cache
 * loaded, no trees built, nothing written (at 50k files ~0.2 s instead of ~1.1 s). The state
 * is not returned.
 */
export async function recordIfChanged(repo: Repo, opts: RecordOptions): Promise<Recorded> {
  const config = await readConfig(repo);
  const eligible = !opts.roots && !opts.full && !opts.allowEmpty && !opts.writer;
  const { started, byIndex } = await askIndex(repo, config, eligible);
  if ('unchanged' in byIndex) {
    const { head, changes, scan } = byIndex.unchanged;
    return { parent: head, changes, scan };
  }
  return recordWith(repo, config, { ...opts, listing: byIndex.listing, started });
}

async function recordWith(
  repo: Repo,
  config: Config,
  opts: RecordOptions & Pick<AgainstHead, 'listing' | 'started'>,
): Promise<RecordResult> {
  const { head, cached, result, writer, started } = await scanAgainstHead(repo, config, opts);
  try {
    return await commitScan(repo, opts, head, cached, result, writer, started);
  } catch (err) {
    // A temporary pack left behind would wait two weeks for `git prune`.
    await writer.abort?.();
    throw err;
  }
}

const NO_COMMIT: RecordOptions = { subject: 'no change', actor: { name: 'trail' }, action: 'watch' };

/** Some of a scan's changed paths, recorded as one commit (trail watch: one per actor). */
export interface Part extends Omit<RecordOptions, 'roots' | 'full' | 'writer' | 'onProgress' | 'allowEmpty'> {
  paths: string[];
}

/**
 * Scans under `roots` once, and records what changed as one commit per part `divide` makes
 * of the changes, in the order given. Each commit holds exactly the entries this scan read:
 * a write made after the scan is never swept into a commit under someone else's name (its
 * own event brings it to a later window), and nothing is read twice. A changed path no part
 * takes stays as recorded, to be looked at again. `after` runs after each commit; the caller
 * holds the write lock throughout.
 */
export async function recordParts(
  repo: Repo,
  roots: string[],
  divide: (changes: Change[]) => Promise<Part[]>,
  after: (res: RecordResult, part: Part) => Promise<void> = async () => {},
): Promise<RecordResult[]> {
  const config = await readConfig(repo);
  const { head, cached, result, writer, started } = await scanAgainstHead(repo, config, { roots });
  // The writer not yet finished, to abort on failure (a temporary pack would wait for prune).
  let open: ObjectWriter | undefined = writer;
  try {
    const changes = diffStates(cached.state, result.state, undefined, result.looked);
    const parts = changes.length ? await divide(changes) : [];
    // Paths read again whose content did not change (only their stat data moved) go with the
    // last commit: they change nothing in it, and the next scan trusts their stat data again.
    const changed = new Set(changes.map((c) => c.path));
    const restat = (result.looked ?? [...result.state.keys()]).filter(
      (p) => !changed.has(p) && result.state.get(p) !== cached.state.get(p),
    );
    if (!parts.length) {
      if (changes.length || !head) return [];
      // Nothing changed: commitScan makes no commit (its options go unused) and keeps only
      // the stat data read again.
      open = undefined;
      return [await commitScan(repo, NO_COMMIT, head, cached, only(cached, result, restat), writer, started)];
    }
    return await commitParts(repo, parts, restat, { head, cached, result, writer, started }, after, (w) => (open = w));
  } finally {
    await open?.abort?.();
  }
}

/** One commit per part, each on the one before; `opened` learns the writer not yet finished. */
async function commitParts(
  repo: Repo,
  parts: Part[],
  restat: string[],
  scanned: { head: string | undefined; cached: Cached; result: ScanResult; writer: ObjectWriter; started: number },
  after: (res: RecordResult, part: Part) => Promise<void>,
  opened: (w: ObjectWriter | undefined) => void,
): Promise<RecordResult[]> {
  let { head, cached, writer } = scanned;
  const out: RecordResult[] = [];
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    const paths = last ? [...part.paths, ...restat] : part.paths;
    const res = await commitScan(
      repo,
      part,
      head,
      cached,
      only(cached, scanned.result, paths),
      writer,
      scanned.started,
    );
    opened(undefined);
    out.push(res);
    await after(res, part);
    if (last) break;
    // The first commit made the scan's objects durable; the next ones add a few trees each.
    writer = (await writers()).chooseWriter(repo.gitDir, 0, { level: 'auto' });
    opened(writer);
    head = res.commit ?? head;
    cached = await loadCache(repo, head);
  }
  return out;
}

/** The scan's result as if it had looked only at `paths` (commit/parts.ts). */
function only(cached: Cached, result: ScanResult, paths: string[]): ScanResult {
  const part = partOf(cached.state, result.state, paths);
  sameLinkGroups(result.state, part.state);
  return { ...result, ...part };
}

/** Trees, then (when anything changed) the secrets commit and the commit, made durable; then
 * the refs move and the stat cache is saved (racy entries judged against `started`, the
 * scan's start). */
async function commitScan(
  repo: Repo,
  opts: RecordOptions,
  head: string | undefined,
  cached: Cached,
  result: ScanResult,
  writer: ObjectWriter,
  started: number,
): Promise<RecordResult> {
  const changes = diffStates(cached.state, result.state, undefined, result.looked);
  const built = await writeSnapshotTree(result.state, writer, cached.trees, cached.folders, result.looked);
  phase('trees written');
  const keep = () => ({ from: cached.state, looked: result.looked });
  if (head && !changes.length && !opts.allowEmpty) {
    await writer.finish();
    await saveCache(repo, head, result.state, built.trees, built.folders, keep(), result.rules, started);
    return { parent: head, changes, scan: result, state: result.state };
  }
  const secrets = await writeSecretsCommit(repo, writer, result.state, cached.state, opts.actor, result.looked);
  const parents = head ? [head] : [];
  const message = snapshotMessage(opts, changes);
  const commit = await writeCommit(writer, { tree: built.root, parents, author: opts.actor, message });
  await writer.finish();
  phase('objects durable');
  // The secrets ref first: once `observed` names a secret's digest, its bytes are reachable.
  if (secrets) await repo.updateRef(Refs.secrets, secrets.commit, secrets.parent, `trail: ${opts.action}`);
  await repo.updateRef(Refs.observed, commit, head, `trail: ${opts.action}`);
  // The commit is recorded: the cache is derived data (rebuilt from the commit when it is
  // stale), so failing to save it (disk full) must not turn a recorded snapshot into an error.
  await saveCache(repo, commit, result.state, built.trees, built.folders, keep(), result.rules, started).catch(
    () => {},
  );
  phase('cache saved');
  // What was stored uncompressed is packed again, compressed, in the background.
  const { PackWriter, STORE_FROM } = await import('./store/pack-writer.js');
  if (writer instanceof PackWriter && writer.storedBytes >= STORE_FROM) startBackgroundRepack(repo.gitDir);
  return { commit, parent: head, changes, scan: result, state: result.state };
}
