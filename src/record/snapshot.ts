// A snapshot, stage by stage: list → read (scanner.ts) → store objects (the writer) → trees
// (tree/tree-saver.ts) → commit (commit/) → refs, then the stat cache. Only the wiring is here;
// each stage's work is in its room (see README.md). TRAIL_TIMING=1 names the phases.
import { asNumber, readConfig, type Config } from './repo/settings.js';
import { snapshotMessage, writeCommit, type Actor } from './commit/commit.js';
import { partOf } from './commit/parts.js';
import { writeSecretsCommit } from './commit/secrets-writer.js';
import { diffStates, type Change } from './model/diff.js';
import { HashOnlyWriter, type ObjectWriter } from './store/object-writer.js';
import { startBackgroundRepack } from './store/maintenance.js';
import { Refs, type Repo } from './repo/repo.js';
import { loadRules } from './list/rules-loader.js';
import { rulesDigest } from './list/rules.js';
import { checkIndex } from './list/index-check.js';
import { ReadPool } from './read/read-pool.js';
import { scan, type ScanResult } from './scanner.js';
import { list, listsOnThreads, type ListingWithThreads, type Unchanged } from './list/lister.js';
import { secretKey } from './read/secrets.js';
import { expectedEntries, loadCache, loadStatIndex, refreshCache, saveCache, type Cached } from './model/stat-cache.js';
import type { State } from './model/state.js';
import { writeSnapshotTree } from './tree/tree-saver.js';
import { phase } from '../util/timing.js';

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

interface AgainstHead {
  full?: boolean;
  roots?: string[];
  writer?: ObjectWriter;
  hashOnly?: boolean;
  listing?: Promise<ListingWithThreads>;
  onProgress?: (d: number, t: number) => void;
}

/** The disk scanned against the trail's head: the cache of the head, the scan, its writer. */
async function scanAgainstHead(repo: Repo, config: Config, opts: AgainstHead) {
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
  const maxFileSize = asNumber(config['snapshot.maxFileSize'], 128 << 20);
  // Rules changed since the cache was recorded (or not known to be the same): a file not
  // touched since may be recorded otherwise now (named a secret since, say), so the whole
  // tree is looked at, not only the roots (read/reader.ts re-reads what differs). A cache
  // rebuilt from the commit has no stat data to trust: a whole scan would read every file.
  const widen = cached.warm && cached.rules !== rulesDigest(rules, maxFileSize);
  const result = await scan({
    root: repo.info.dir,
    rules,
    previous: cached.state,
    previousRules: cached.rules,
    full: opts.full,
    writer,
    secretKey: await secretKey(repo),
    maxFileSize,
    roots: widen ? undefined : opts.roots,
    listing,
    onProgress: opts.onProgress,
  }).catch(async (err: unknown) => {
    await writer.abort?.();
    throw err;
  });
  phase('scanned');
  return { head, cached, result, writer };
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
  const head = await repo.readRef(Refs.observed);
  const indexed = !!opts.changesOnly && !opts.full && listsOnThreads(await expectedEntries(repo, head));
  const byIndex = indexed ? await listAgainstIndex(repo, config, head) : { indexed: false };
  if ('unchanged' in byIndex) return byIndex.unchanged;
  const {
    cached,
    result,
    head: compared,
  } = await scanAgainstHead(repo, config, {
    ...opts,
    listing: byIndex.listing,
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
    await refreshCache(repo, compared, result.state, cached.trees, result.rules);
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

/** A big tree listed against its stat index (the listing's thread starts while the index
 * loads): `unchanged` when it matches and the head did not move meanwhile, else the listing
 * to scan (none without an index). */
async function listAgainstIndex(
  repo: Repo,
  config: Config,
  head: string | undefined,
): Promise<{ unchanged: Drift } | { indexed: boolean; listing?: Promise<ListingWithThreads> }> {
  const pool = new ReadPool('hash');
  pool.warm(1);
  const index = await loadStatIndex(repo, head);
  if (!index) {
    await pool.close();
    return { indexed: false };
  }
  phase('stat index loaded');
  const rules = await loadRules(repo, config);
  const digest = rulesDigest(rules, asNumber(config['snapshot.maxFileSize'], 128 << 20));
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
  const config = await readConfig(repo);
  const { head, cached, result, writer } = await scanAgainstHead(repo, config, opts);
  try {
    return await commitScan(repo, opts, head, cached, result, writer);
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
  const { head, cached, result, writer } = await scanAgainstHead(repo, config, { roots });
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
      return [await commitScan(repo, NO_COMMIT, head, cached, only(cached, result, restat), writer)];
    }
    return await commitParts(repo, parts, restat, { head, cached, result, writer }, after, (w) => (open = w));
  } finally {
    await open?.abort?.();
  }
}

/** One commit per part, each on the one before; `opened` learns the writer not yet finished. */
async function commitParts(
  repo: Repo,
  parts: Part[],
  restat: string[],
  scanned: { head: string | undefined; cached: Cached; result: ScanResult; writer: ObjectWriter },
  after: (res: RecordResult, part: Part) => Promise<void>,
  opened: (w: ObjectWriter | undefined) => void,
): Promise<RecordResult[]> {
  let { head, cached, writer } = scanned;
  const out: RecordResult[] = [];
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    const paths = last ? [...part.paths, ...restat] : part.paths;
    const res = await commitScan(repo, part, head, cached, only(cached, scanned.result, paths), writer);
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
  return { ...result, ...partOf(cached.state, result.state, paths) };
}

/** Trees, then (when anything changed) the secrets commit and the commit, made durable; then
 * the refs move and the stat cache is saved. */
async function commitScan(
  repo: Repo,
  opts: RecordOptions,
  head: string | undefined,
  cached: Cached,
  result: ScanResult,
  writer: ObjectWriter,
): Promise<RecordResult> {
  const changes = diffStates(cached.state, result.state, undefined, result.looked);
  const built = await writeSnapshotTree(result.state, writer, cached.trees, cached.folders, result.looked);
  phase('trees written');
  const keep = () => ({ from: cached.state, looked: result.looked });
  if (head && !changes.length && !opts.allowEmpty) {
    await writer.finish();
    await saveCache(repo, head, result.state, built.trees, built.folders, keep(), result.rules);
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
  await saveCache(repo, commit, result.state, built.trees, built.folders, keep(), result.rules).catch(() => {});
  phase('cache saved');
  // What was stored uncompressed is packed again, compressed, in the background.
  const { PackWriter, STORE_FROM } = await import('./store/pack-writer.js');
  if (writer instanceof PackWriter && writer.storedBytes >= STORE_FROM) startBackgroundRepack(repo.gitDir);
  return { commit, parent: head, changes, scan: result, state: result.state };
}
