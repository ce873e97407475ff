import { hostName } from '../util/accounts.js';
import { asList, asNumber, readConfig, type Config } from './repo/settings.js';
import { commitMessage, writeCommit, type Actor } from './commit/commit.js';
import { changeLine, diffStates, type Change } from './model/diff.js';
import { HashOnlyWriter, serializeTree, type ObjectWriter, type TreeItem } from './store/objects.js';
import { chooseWriter, PackWriter, STORE_FROM } from './store/pack-writer.js';
import { startBackgroundRepack } from './store/maintenance.js';
import { Refs, type Repo } from './repo/repo.js';
import { readSecretIndex } from './tree/tree-reader.js';
import { makeRules, type ScanRule } from './list/rules.js';
import { readSideFile } from './repo/side-file.js';
import { ReadPool } from './read/read-pool.js';
import { list, listsOnThreads, scan, type ListingWithThreads, type ScanResult } from './scanner.js';
import { secretKey } from './read/secrets.js';
import { expectedEntries, loadCache, loadStatIndex, saveCache, type Cached } from './model/stat-cache.js';
import { writeSnapshotTree, type Entry, type State } from './model/state.js';
import { phase } from '../util/timing.js';
import { LayeredState } from './model/layered.js';
import { insideAny } from './list/roots.js';
import { parentOf } from '../util/bytes.js';

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

async function rulesOf(repo: Repo, config: Config) {
  return makeRules(
    asList(config.ignore),
    asList(config.secrets),
    await readScanRules(repo),
    asList(config['logs.paths']),
  );
}

async function scanAgainstHead(
  repo: Repo,
  config: Config,
  opts: {
    full?: boolean;
    roots?: string[];
    writer?: ObjectWriter;
    hashOnly?: boolean;
    listing?: Promise<ListingWithThreads>;
    onProgress?: (d: number, t: number) => void;
  },
) {
  const head = await repo.readRef(Refs.observed);
  phase('start');
  const rules = await rulesOf(repo, config);
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
  // A cold cache means every file is read again: that is a batch, and a pack wins. Many
  // bytes of blobs are stored, not compressed (zlib level 0): level 1 cost ~6 s of CPU at 50k
  // files, more than everything else together; background maintenance compresses them later.
  const writer: ObjectWriter = opts.hashOnly
    ? new HashOnlyWriter()
    : (opts.writer ?? chooseWriter(repo.gitDir, cached.warm ? 0 : Infinity, { level: 'auto' }));
  const result = await scan({
    root: repo.info.dir,
    rules,
    previous: cached.state,
    full: opts.full,
    writer,
    secretKey: await secretKey(repo),
    maxFileSize: asNumber(config['snapshot.maxFileSize'], 128 << 20),
    roots: opts.roots,
    listing,
    onProgress: opts.onProgress,
  }).catch(async (err: unknown) => {
    await writer.abort?.();
    throw err;
  });
  phase('scanned');
  return { head, cached, result, writer };
}

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
  const indexed = opts.changesOnly && !opts.full && listsOnThreads(await expectedEntries(repo, head));
  // The listing's thread starts while the index loads.
  const pool = indexed ? new ReadPool('hash') : undefined;
  pool?.warm(1);
  const index = indexed ? await loadStatIndex(repo, head) : undefined;
  let listing: Promise<ListingWithThreads> | undefined;
  if (!index) await pool?.close();
  else {
    phase('stat index loaded');
    listing = list({ root: repo.info.dir, rules: await rulesOf(repo, config) }, [''], index.paths.length, index, pool);
    const { unchanged, threads } = await listing;
    if (unchanged) {
      await threads?.close();
      listing = undefined;
      if ((await repo.readRef(Refs.observed)) === head) {
        phase('matched the stat index');
        return {
          head,
          changes: [],
          scan: { state: new Map(), skipped: [], digestOnly: [], ignored: 0, read: 0, ...unchanged },
        };
      }
    }
  }
  const { cached, result, head: compared } = await scanAgainstHead(repo, config, { ...opts, listing, hashOnly: true });
  const changes = diffStates(cached.state, result.state);
  // Nothing changed but files were read again (their stat data had moved: touched, or changed
  // just before the last snapshot), or a big tree has no stat index yet: the cache is
  // written anew, so that the next status trusts them, as `git status` refreshes its index.
  // (--full reads everything: only a cache rebuilt from the commit is worth writing then.)
  const reread = opts.full ? !cached.warm : result.read > 0;
  if (compared && !changes.length && (reread || (indexed && !index)))
    await refreshCache(repo, compared, result.state, cached.trees);
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
  // The scan counted what it looked at; status says how many files the whole tree holds.
  let files = 0;
  for (const e of result.state.values()) if (e.meta.kind === 'file') files++;
  return { head, changes, scan: { ...result, files }, recorded: cached.state };
}

/**
 * Nothing changed, but files were read because their stat data could not be trusted (changed
 * just before the last snapshot, or a cache rebuilt from the commit): what was read is
 * exactly the recorded state, now with stat data, so the next status need not read them
 * again — what `git status` does to its index. Only when the write lock is free at once and
 * the trail's head is still the one compared against: a reader never waits, and never
 * overwrites a newer writer's cache.
 */
async function refreshCache(repo: Repo, head: string, state: State, trees: Set<string>): Promise<void> {
  try {
    await repo.lock.acquire(0, 'status');
  } catch {
    return;
  }
  try {
    if ((await repo.readRef(Refs.observed)) === head) await saveCache(repo, head, state, trees);
  } catch {
    /* derived data: the next command rebuilds or re-reads */
  } finally {
    await repo.lock.release().catch(() => {});
  }
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
  let { head, cached, result, writer } = await scanAgainstHead(repo, config, { roots });
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
      return [await commitScan(repo, NO_COMMIT, head, cached, partOf(cached.state, result, restat), writer)];
    }
    const out: RecordResult[] = [];
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const res = await commitScan(
        repo,
        part,
        head,
        cached,
        partOf(cached.state, result, last ? [...part.paths, ...restat] : part.paths),
        writer,
      );
      open = undefined;
      out.push(res);
      await after(res, part);
      if (last) break;
      // The first commit made the scan's objects durable; the next ones add a few trees each.
      open = writer = chooseWriter(repo.gitDir, 0, { level: 'auto' });
      head = res.commit ?? head;
      cached = await loadCache(repo, head);
    }
    return out;
  } finally {
    await open?.abort?.();
  }
}

/**
 * The scan's result as if it had looked only at `paths`: the recorded state with their
 * scanned entries (or without them, where the scan found them gone). It holds together even
 * where the parts do not: a path whose new folder no part takes brings the folder along, and
 * a folder removed (or made a file) takes what the recorded state still had in it.
 */
function partOf(recorded: State, scanned: ScanResult, paths: string[]): ScanResult {
  const state = LayeredState.over(recorded);
  const looked = new Set(paths);
  for (const p of paths) {
    const e = scanned.state.get(p);
    if (e) state.set(p, e);
    else state.delete(p);
  }
  for (const p of paths) {
    if (!state.has(p)) continue;
    for (let q = parentOf(p); q !== '' && !state.has(q); q = parentOf(q)) {
      const e = scanned.state.get(q);
      if (!e) break;
      state.set(q, e);
      looked.add(q);
    }
  }
  const gone = paths.filter((p) => recorded.get(p)?.meta.kind === 'dir' && state.get(p)?.meta.kind !== 'dir');
  if (gone.length) {
    const inside = insideAny(gone);
    for (const p of recorded.keys()) {
      if (looked.has(p) || !inside(p)) continue;
      state.delete(p);
      looked.add(p);
    }
  }
  return { ...scanned, state, looked: [...looked] };
}

async function commitScan(
  repo: Repo,
  opts: RecordOptions,
  head: string | undefined,
  cached: Cached,
  result: ScanResult,
  writer: ObjectWriter,
): Promise<RecordResult> {
  const changes = diffStates(cached.state, result.state, undefined, result.looked);
  const { root, trees, folders } = await writeSnapshotTree(
    result.state,
    writer,
    cached.trees,
    cached.folders,
    result.looked,
  );
  phase('trees written');
  if (head && !changes.length && !opts.allowEmpty) {
    await writer.finish();
    await saveCache(repo, head, result.state, trees, folders, { from: cached.state, looked: result.looked });
    return { parent: head, changes, scan: result, state: result.state };
  }
  const secretsCommit = await recordSecrets(repo, writer, result.state, cached.state, opts.actor, result.looked);
  const shown = changes.slice(0, 200).map(changeLine);
  if (changes.length > shown.length) shown.push(`… and ${changes.length - shown.length} more`);
  const commit = await writeCommit(writer, {
    tree: root,
    parents: head ? [head] : [],
    author: opts.actor,
    message: commitMessage(
      typeof opts.subject === 'function' ? opts.subject(changes) : opts.subject,
      [...(opts.body ?? []), ...(shown.length && opts.action !== 'init' ? ['', ...shown] : [])],
      {
        'Trail-Action': opts.action,
        'Trail-Host': hostName(),
        ...opts.trailers,
      },
    ),
  });
  await writer.finish();
  phase('objects durable');
  // The secrets ref first: once `observed` names a secret's digest, its bytes are reachable.
  if (secretsCommit)
    await repo.updateRef(Refs.secrets, secretsCommit.commit, secretsCommit.parent, `trail: ${opts.action}`);
  await repo.updateRef(Refs.observed, commit, head, `trail: ${opts.action}`);
  // The commit is recorded: the cache is derived data (rebuilt from the commit when it is
  // stale), so failing to save it (disk full) must not turn a recorded snapshot into an error.
  await saveCache(repo, commit, result.state, trees, folders, { from: cached.state, looked: result.looked }).catch(
    () => {},
  );
  phase('cache saved');
  // What was stored uncompressed is packed again, compressed, in the background.
  if (writer instanceof PackWriter && writer.storedBytes >= STORE_FROM) startBackgroundRepack(repo.gitDir);
  return { commit, parent: head, changes, scan: result, state: result.state };
}

/** Adds the real bytes of new secret versions to the local-only secrets ref, keyed by
 * digest (fanned out by its first two hex digits). Returns the commit to point it at. */
async function recordSecrets(
  repo: Repo,
  writer: ObjectWriter,
  state: State,
  previous: State,
  actor: Actor,
  looked?: string[],
): Promise<{ commit: string; parent?: string } | undefined> {
  // Only entries the scan made anew can hold a new secret version; the rest are the recorded
  // entries themselves (and looking at their metadata would parse every cached line). A scan
  // under roots says which paths it looked at: only those can hold one.
  const fresh: [string, Entry][] = [];
  for (const p of looked ?? state.keys()) {
    const e = state.get(p);
    if (e?.secretOid && previous.get(p) !== e) fresh.push([p, e]);
  }
  if (!fresh.length) return undefined;
  const known = await readSecretIndex(repo);
  let added = 0;
  for (const [, e] of fresh) {
    if (e.meta.secret && e.secretOid && known.get(e.meta.secret) !== e.secretOid) {
      known.set(e.meta.secret, e.secretOid);
      added++;
    }
  }
  if (!added) return undefined;
  const fan = new Map<string, TreeItem[]>();
  for (const [digest, oid] of known) {
    const hex = digest.slice('hmac-sha256:'.length);
    const list = fan.get(hex.slice(0, 2)) ?? [];
    list.push({ name: hex.slice(2), mode: '100644', oid });
    fan.set(hex.slice(0, 2), list);
  }
  const top: TreeItem[] = [];
  for (const [dir, items] of fan)
    top.push({ name: dir, mode: '40000', oid: await writer.write('tree', serializeTree(items)) });
  const tree = await writer.write('tree', serializeTree(top));
  const parent = await repo.readRef(Refs.secrets);
  const commit = await writeCommit(writer, {
    tree,
    parents: parent ? [parent] : [],
    author: actor,
    message: commitMessage(`secrets: ${added} new version(s)`, ['Local only: this ref is never pushed.'], {
      'Trail-Action': 'secrets',
    }),
  });
  return { commit, parent };
}

/** The policy's scan rules, stored beside it (see rules.ts, ScanRule). */
async function readScanRules(repo: Repo): Promise<ScanRule[]> {
  const data = await readSideFile(repo, Refs.policy, 'scan-rules.json');
  return data ? (JSON.parse(data.toString('utf8')) as ScanRule[]) : [];
}
