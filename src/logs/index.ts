import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { hostName } from '../util/accounts.js';
import { commitMessage, writeCommit, type Actor } from '../record/commit/commit.js';
import { asList, readConfig, type Config } from '../record/repo/settings.js';
import { LooseWriter } from '../record/store/loose-writer.js';
import { serializeTree, type TreeItem } from '../record/store/object-format.js';
import type { Repo } from '../record/repo/repo.js';
import { Refs } from '../util/refs.js';
import { makeRules, type ScanRule } from '../record/list/rules.js';
import { readSideFile } from '../record/repo/side-file.js';
import { rotationBase } from '../record/list/rotated-names.js';
import { loadLogState, saveLogState, type Generation, type Incident, type LogState } from './state.js';
import { checkFile, type CheckContext, type LiveHashes } from './tracker.js';

export { rotationBase } from '../record/list/rotated-names.js';
export type { Incident, LogState, Generation } from './state.js';
export type { LiveHashes } from './tracker.js';

/** Checkpoints of every tracked log's state: anchored like the rest of the trail. */
export const LOGS_REF = Refs.logs;
/** The kept appended bytes (logs.keepAppended): one commit per checkpoint holding only the
 * new chunks, so a checkpoint costs the new bytes (compressed) and not a rewrite of an index. */
export const LOGS_DATA_REF = Refs.logsData;

const TRAIL: Actor = { name: 'trail' };

async function logRules(
  repo: Repo,
  config: Config,
): Promise<{ any: boolean; isLog: (p: string) => boolean; literal?: string[] }> {
  const data = await readSideFile(repo, Refs.policy, 'scan-rules.json');
  const scanRules = data ? (JSON.parse(data.toString('utf8')) as ScanRule[]) : [];
  const globs = asList(config['logs.paths']);
  const fromPolicy = scanRules.filter((r) => r.class === 'log').flatMap((r) => r.paths);
  const rules = makeRules([], [], scanRules, globs);
  const all = [...globs, ...fromPolicy];
  // Plain names need no walk of the watched directory.
  const literal = all.every((g) => g.includes('/') && !/[*?[\]{}!]/.test(g))
    ? all.map((g) => g.replace(/^\/+/, ''))
    : undefined;
  return { any: all.length > 0, isLog: rules.log, literal };
}

/** Which log a path belongs to: itself when it is a log (named by the rules, or tracked), the
 * log it is a rotated copy of (auth.log.1 → auth.log), or none. Pure, given what is tracked
 * and the rules. */
export function logOfPath(
  path: string,
  tracked: ReadonlySet<string>,
  isLog: (p: string) => boolean,
): string | undefined {
  const base = rotationBase(path);
  if (base !== undefined && (tracked.has(base) || isLog(base))) return base;
  if (tracked.has(path) || isLog(path)) return path;
  return undefined;
}

/** What the daemon needs to route a touched path to the log it belongs to, as things are now
 * (the settings, the policy's log rules, the tracked logs). */
export async function logSelector(repo: Repo): Promise<(path: string) => string | undefined> {
  const [config, state] = await Promise.all([readConfig(repo), loadLogState(repo)]);
  const r = await logRules(repo, config);
  const tracked = new Set(Object.keys(state.files));
  return (p) => logOfPath(p, tracked, r.isLog);
}

/** The logs to check: those the rules name now (not their rotated copies), plus those
 * already tracked (a tracked log that vanished must still be reported). */
export async function trackedPaths(repo: Repo, config: Config, state: LogState): Promise<string[]> {
  const found = new Set(Object.keys(state.files));
  const r = await logRules(repo, config);
  if (r.any) {
    const candidates = r.literal ?? (await walk(repo.info.dir));
    for (const p of candidates) {
      if (!r.isLog(p)) continue;
      const base = rotationBase(p);
      if (base !== undefined && r.isLog(base)) continue; // a rotated copy: part of its log
      try {
        if ((await fsp.lstat(join(repo.info.dir, p))).isFile()) found.add(p);
      } catch {
        /* not there */
      }
    }
  }
  return [...found].sort();
}

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [''];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = await fsp.readdir(join(root, dir), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) stack.push(rel);
      else if (e.isFile()) out.push(rel);
    }
  }
  return out;
}

export interface CheckpointResult {
  checked: string[];
  incidents: Incident[];
  notes: string[];
  /** The checkpoint commit on refs/trail/logs, when anything changed since the last one. */
  commit?: string;
}

export interface CheckpointOptions {
  /** Keeps running hashes between calls (the daemon): then only appended bytes are read. */
  live?: LiveHashes;
  full?: boolean;
  actor?: Actor;
  /** Only these logs. */
  paths?: string[];
  /** Following (trail watch, on a log's events): the state is saved, but a checkpoint is
   * committed only when an incident was found or a log was taken into tracking; the periodic
   * checkpoint commits the rest. */
  follow?: boolean;
}

/**
 * Checks every tracked log, recognises rotations, records tampering (a Trail-Alert trailer)
 * and commits the state to refs/trail/logs when anything changed. Returns the incidents: the
 * caller alerts (src/act/log-alert.ts), as logs know nothing of the policy. The caller holds
 * the repository's write lock.
 */
export async function checkpointLogs(repo: Repo, opts: CheckpointOptions = {}): Promise<CheckpointResult> {
  const config = await readConfig(repo);
  const state = await loadLogState(repo);
  const paths = opts.paths ?? (await trackedPaths(repo, config, state));
  const now = new Date().toISOString();
  const writer = new LooseWriter(repo.gitDir);
  const keep = config['logs.keepAppended'] === true;
  const ctx: CheckContext = {
    root: repo.info.dir,
    now,
    update: true,
    full: opts.full ?? !opts.live,
    live: opts.live,
    keepBlob: keep ? (data) => writer.write('blob', data) : undefined,
    readBlob: (oid) => repo.objects().readBlob(oid),
    onChunk: (path, generation, chunk) => state.pendingChunks.push({ path, generation, chunk }),
  };
  const result: CheckpointResult = { checked: paths, incidents: [], notes: [] };
  const before = Object.keys(state.files).length;
  for (const p of paths) {
    const o = await checkFile(state, p, ctx);
    result.incidents.push(...o.incidents);
    result.notes.push(...o.notes);
  }
  if (opts.follow && !result.incidents.length && Object.keys(state.files).length === before) {
    await writer.finish();
    await saveLogState(repo, state);
    return result;
  }
  for (const f of Object.values(state.files)) {
    for (const g of [f.current, ...f.rotated]) {
      if (g && g.length !== g.marks[g.marks.length - 1]?.at)
        g.marks.push({ at: g.length, sha256: g.sha256, time: now });
    }
  }
  const summary = checkpointContent(state, now);
  const digest = createHash('sha256')
    .update(JSON.stringify({ ...summary, time: undefined }))
    .digest('hex');
  const last = state.lastDigest;
  const anything = Object.keys(state.files).length > 0 || state.lastCheckpoint !== undefined;
  if ((digest !== last && anything) || result.incidents.length) {
    const dataCommit = state.pendingChunks.length ? await writeDataCommit(repo, writer, state) : undefined;
    const lines = [...result.incidents.map((i) => `alert: ${i.summary}`), ...result.notes];
    const grown = Object.values(state.files)
      .filter((f) => f.current)
      .map((f) => `${f.path}: generation ${f.current!.n}, ${f.current!.length} bytes verified`);
    const subject = result.incidents.length
      ? `logs: ${result.incidents.length} integrity alert(s): ${result.incidents.map((i) => `${i.path} ${i.kind}`).join(', ')}`
      : `logs: checkpoint of ${Object.keys(state.files).length} log(s)`;
    const tree = await writer.write(
      'tree',
      serializeTree([
        {
          name: 'logs.json',
          mode: '100644',
          oid: await writer.write('blob', Buffer.from(JSON.stringify(summary, null, 1) + '\n')),
        },
      ]),
    );
    const parent = await repo.readRef(LOGS_REF);
    const commit = await writeCommit(writer, {
      tree,
      parents: parent ? [parent] : [],
      author: opts.actor ?? TRAIL,
      message: commitMessage(subject, [...lines, ...(lines.length ? [''] : []), ...grown.slice(0, 50)], {
        'Trail-Action': 'logs',
        'Trail-Host': hostName(),
        'Trail-Alert': result.incidents.map((i) => `log ${i.kind} ${i.path}`).join('; ') || undefined,
        'Trail-Actor': result.incidents.length ? 'unknown (log tampering is found after the fact)' : undefined,
      }),
    });
    await writer.finish();
    // Data first: once a checkpoint names chunks, they are reachable.
    if (dataCommit) await repo.updateRef(LOGS_DATA_REF, dataCommit.commit, dataCommit.parent, 'trail: logs data');
    await repo.updateRef(LOGS_REF, commit, parent, 'trail: logs checkpoint');
    result.commit = commit;
    for (const i of result.incidents) i.commit = commit;
    state.pendingChunks = [];
    state.lastCheckpoint = { commit, time: now };
    state.lastDigest = digest;
  } else await writer.finish();
  await saveLogState(repo, state);
  return result;
}

/**
 * Takes every log the rules name and that is not tracked yet into tracking now, trusted from
 * this moment: called where a log gets configured (`config set logs.paths`, `policy set`), so
 * that no line written before the first periodic checkpoint goes unwatched. undefined when
 * there was nothing new. The caller holds the write lock, and alerts on the incidents.
 */
export async function takeInLogs(repo: Repo, actor?: Actor): Promise<CheckpointResult | undefined> {
  const config = await readConfig(repo);
  const state = await loadLogState(repo);
  const fresh = (await trackedPaths(repo, config, state)).filter((p) => !state.files[p]);
  if (!fresh.length) return undefined;
  return checkpointLogs(repo, { paths: fresh, actor, full: true });
}

const genSummary = (g: Generation) => ({
  n: g.n,
  dev: g.dev,
  ino: g.ino,
  location: g.location,
  length: g.length,
  sha256: g.sha256,
  since: g.since,
  lastSeen: g.lastSeen,
  ...(g.ended ? { ended: g.ended } : {}),
  ...(g.chunks.length ? { keptChunks: g.chunks.length } : {}),
});

/** What a checkpoint commits: per log, the verified length and hash of each generation on
 * disk, and the chain over the finished ones. Small, whatever the size of the logs. */
function checkpointContent(state: LogState, now: string) {
  const files: Record<string, unknown> = {};
  for (const f of Object.values(state.files)) {
    files[f.path] = {
      current: f.current ? genSummary(f.current) : null,
      rotated: f.rotated.map(genSummary),
      chain: f.chain,
      generations: f.generations,
      incidents: f.incidents.length,
    };
  }
  return { version: 1, time: now, host: hostName(), files };
}

async function writeDataCommit(
  repo: Repo,
  writer: LooseWriter,
  state: LogState,
): Promise<{ commit: string; parent?: string }> {
  const items: TreeItem[] = state.pendingChunks.map(({ path, generation, chunk }) => ({
    name: `${createHash('sha256').update(path).digest('hex').slice(0, 16)}-${generation}-${String(chunk.from).padStart(15, '0')}`,
    mode: '100644',
    oid: chunk.oid,
  }));
  const seen = new Set<string>();
  const unique = items.filter((i) => !seen.has(i.name) && seen.add(i.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const tree = await writer.write('tree', serializeTree(unique));
  const parent = await repo.readRef(LOGS_DATA_REF);
  const commit = await writeCommit(writer, {
    tree,
    parents: parent ? [parent] : [],
    author: TRAIL,
    message: commitMessage(
      `logs data: ${unique.length} chunk(s)`,
      ['Kept appended bytes of tracked logs (logs.keepAppended).'],
      { 'Trail-Action': 'logs-data' },
    ),
    sign: false, // local only (refs/trail/logs-data is never published)
  });
  return { commit, parent };
}

export interface VerifyEntry {
  path: string;
  status: 'intact' | 'diverged' | 'missing' | 'untracked';
  since?: string;
  generation?: number;
  verifiedLength?: number;
  sizeNow?: number;
  lastCheckpoint?: string;
  /** Found now (not yet recorded) and recorded earlier. */
  found: Incident[];
  recorded: Incident[];
  rotated: { location: string; length: number }[];
}

/**
 * Re-reads each tracked log against its recorded state without changing anything: every
 * prefix is hashed again. A problem found here is reported, and recorded (with its alert) at
 * the next checkpoint.
 */
export async function verifyLogs(repo: Repo, only?: string): Promise<VerifyEntry[]> {
  const config = await readConfig(repo);
  const state = await loadLogState(repo);
  const paths = only !== undefined ? [only] : await trackedPaths(repo, config, state);
  const copy: LogState = structuredClone(state);
  const ctx: CheckContext = {
    root: repo.info.dir,
    now: new Date().toISOString(),
    update: false,
    full: true,
    readBlob: (oid) => repo.objects().readBlob(oid),
  };
  const out: VerifyEntry[] = [];
  for (const p of paths) {
    const before = state.files[p];
    if (!before) {
      out.push({ path: p, status: 'untracked', found: [], recorded: [], rotated: [] });
      continue;
    }
    const o = await checkFile(copy, p, ctx);
    const f = copy.files[p]!;
    const cur = before.current;
    let sizeNow: number | undefined;
    try {
      sizeNow = (await fsp.stat(join(repo.info.dir, p))).size;
    } catch {
      /* gone */
    }
    out.push({
      path: p,
      status: o.incidents.length ? 'diverged' : f.current || f.rotated.length ? 'intact' : 'missing',
      since: cur?.since,
      generation: cur?.n,
      verifiedLength: cur?.length,
      sizeNow,
      lastCheckpoint: state.lastCheckpoint?.time,
      found: o.incidents,
      recorded: before.incidents,
      rotated: f.rotated.map((g) => ({ location: g.location, length: g.length })),
    });
  }
  return out;
}

export async function logsStatus(repo: Repo): Promise<{ state: LogState; tracked: string[] }> {
  const config = await readConfig(repo);
  const state = await loadLogState(repo);
  return { state, tracked: await trackedPaths(repo, config, state) };
}
