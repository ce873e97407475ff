import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { TrailError, Exit, errorCode } from '../util/errors.js';
import type { Actor } from './commit/commit.js';
import {
  defaultName,
  isInside,
  trailHome,
  validTrailName,
  withRegistry,
  type Registry,
  type Watched,
} from '../host/registry.js';
import { ensureHostKey } from '../host/host-key.js';
import { Refs, Repo } from './repo/repo.js';
import { record, type RecordResult } from './snapshot.js';

export interface InitOptions {
  dir: string;
  name?: string;
  repo?: string;
  actor: Actor;
  onProgress?: (done: number, total: number) => void;
}

/** Where the shadow repository of trail `name` goes unless `--repo` says otherwise. */
export function defaultRepoPath(name: string): string {
  return join(trailHome(), `${name}.git`);
}

/** Creates the shadow repository of a directory and records its first snapshot, which is
 * also the first accepted baseline (`approved`). Writes nothing into the directory. Where the
 * repository is, the trail of this very directory that `trail forget` kept goes on instead
 * (`resumed`): what changed meanwhile is recorded as changed while not tracked, by someone
 * unknown, and the accepted baseline stays what it was. */
export async function init(
  opts: InitOptions,
): Promise<{ watched: Watched; result: RecordResult; resumed?: { since?: string } }> {
  const dir = resolve(opts.dir);
  let st;
  try {
    st = await fsp.stat(dir);
  } catch (err) {
    throw new TrailError(
      errorCode(err) === 'ENOENT' ? `${dir} does not exist` : `cannot use ${dir}: ${(err as Error).message}`,
      Exit.usage,
    );
  }
  if (!st.isDirectory()) throw new TrailError(`${dir} is not a directory`, Exit.usage);
  const realDir = await fsp.realpath(dir);
  const name = opts.name ?? defaultName(realDir);
  if (!validTrailName(name))
    throw new TrailError(`"${name}" cannot be a name: use letters, digits, '.', '_' or '-' (at most 64)`, Exit.usage);
  const repoPath = resolve(opts.repo ?? defaultRepoPath(name));
  const realRepoParent = await realParent(repoPath);
  if (isInside(realRepoParent, realDir) || isInside(repoPath, realDir)) {
    throw new TrailError(
      `the shadow repository ${repoPath} would be inside ${realDir}; trail never writes into a watched directory`,
      Exit.usage,
      'choose another place with --repo',
    );
  }
  if (isInside(realDir, realRepoParent) && realDir.startsWith(repoPath)) {
    throw new TrailError(`${realDir} is inside the shadow repository ${repoPath}`, Exit.usage);
  }
  // Claimed under the registry lock: the checks, the repository made and its writer lock
  // taken, so that a second init of the same directory or name finds this one at work.
  let resumed: { since?: string } | undefined;
  const repo = await withRegistry(async (reg) => {
    await refuseTaken(reg, name, realDir);
    const kept = await keptTrail(repoPath, realDir, name);
    if (kept) {
      try {
        await kept.lock.acquire(0, 'init');
      } catch (err) {
        kept.close();
        throw err;
      }
      resumed = {};
      return kept;
    }
    await clearLeftOver(repoPath, realDir);
    const made = await Repo.create(repoPath, { name, dir: realDir });
    try {
      await made.lock.acquire(0, 'init');
    } catch (err) {
      made.close();
      throw err;
    }
    return made;
  });
  if (resumed) return resume(repo, { name, dir: realDir, repo: repoPath });
  try {
    // The host's signing key, before the first commit: that one is signed too. (Making it while
    // the tree is read was tried in the eleventh session: no gain this machine could show.)
    await ensureHostKey();
    const result = await record(repo, {
      subject: `trail init: first snapshot of ${realDir}`,
      actor: opts.actor,
      action: 'init',
      allowEmpty: true,
      onProgress: opts.onProgress,
    });
    await repo.updateRef(Refs.approved, result.commit!, undefined, 'trail init: first accepted baseline');
    const watched: Watched = { name, dir: realDir, repo: repoPath };
    await withRegistry(async (reg) => {
      // Another init of this name or directory, into another repository, may have finished
      // meanwhile: the first to register keeps it.
      await refuseTaken(reg, name, realDir);
      await reg.save([...(await reg.list()), watched]);
    });
    return { watched, result };
  } catch (err) {
    // A half-made repository would block the next attempt: take it away again (it is this
    // init's own: made by it, under its lock).
    await fsp.rm(repoPath, { recursive: true, force: true });
    throw err;
  } finally {
    await repo.lock.release().catch(() => {});
    repo.close();
  }
}

/** The trail of `dir` kept at `repoPath` by `trail forget` (no longer listed, checked before):
 * a shadow repository of this directory with a recorded history. Kept under another name, it
 * is said, not taken over or removed. */
async function keptTrail(repoPath: string, dir: string, name: string): Promise<Repo | undefined> {
  let repo: Repo;
  try {
    repo = await Repo.open(repoPath);
  } catch {
    return undefined; // none, or what an interrupted init left (clearLeftOver's)
  }
  // Whole: an accepted baseline (init sets it before it lists the trail), and not what an
  // init killed half way left (its lock, stale or not: clearLeftOver's business).
  const kept =
    repo.info.dir === dir &&
    (await repo.lock.owner())?.purpose !== 'init' &&
    (await repo.readRef(Refs.observed)) !== undefined &&
    (await repo.readRef(Refs.approved)) !== undefined;
  if (kept && repo.info.name === name) return repo;
  repo.close();
  if (kept)
    throw new TrailError(
      `${repoPath} holds the trail of ${dir} kept as "${repo.info.name}"`,
      Exit.usage,
      `go on with it: trail --name ${repo.info.name} init ${dir}`,
    );
  return undefined;
}

/** A kept trail goes on: what changed while it was not tracked is recorded, and it is listed
 * again. Called with its writer lock held. */
async function resume(
  repo: Repo,
  watched: Watched,
): Promise<{ watched: Watched; result: RecordResult; resumed: { since?: string } }> {
  try {
    await ensureHostKey();
    const head = await repo.readRef(Refs.observed);
    const since = head ? (await repo.git(['log', '-1', '--format=%cI', head])).stdout.toString().trim() : undefined;
    const until = new Date().toISOString();
    const result = await record(repo, {
      subject: `changed while not tracked (forgotten, then initialized again)`,
      actor: { name: 'unknown' },
      action: 'watch-gap',
      body: [
        `trail init found these changes when ${watched.dir} was tracked again: they were made ${since ? `between ${since} and ${until}` : `before ${until}`}, while trail did not track it, by someone unknown.`,
      ],
      trailers: {
        'Trail-Actor': 'unknown (changed while not tracked)',
        'Trail-Unwatched-Since': since,
        'Trail-Unwatched-Until': until,
      },
    });
    await withRegistry(async (reg) => {
      await refuseTaken(reg, watched.name, watched.dir);
      await reg.save([...(await reg.list()), watched]);
    });
    return { watched, result, resumed: { since } };
  } finally {
    await repo.lock.release().catch(() => {});
    repo.close();
  }
}

async function refuseTaken(reg: Registry, name: string, realDir: string): Promise<void> {
  const all = await reg.list();
  const byName = all.find((w) => w.name === name);
  if (byName)
    throw new TrailError(
      `"${name}" is already initialized (${byName.dir} → ${byName.repo})`,
      Exit.usage,
      'see trail list, or choose --name',
    );
  const byDir = all.find((w) => w.dir === realDir);
  if (byDir) throw new TrailError(`${realDir} is already watched as "${byDir.name}"`, Exit.usage);
}

/** Where the repository goes must be empty or missing; what a killed init of this very
 * directory left there is removed (nothing refers to it yet), and one running now is said. */
async function clearLeftOver(repoPath: string, realDir: string): Promise<void> {
  let existing: string[];
  try {
    existing = await fsp.readdir(repoPath);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!existing.length) return;
  const left = await leftOverFromInterruptedInit(repoPath, realDir);
  if (left === 'running')
    throw new TrailError(`an init of ${realDir} into ${repoPath} is running`, Exit.busy, 'wait for it to finish');
  if (!left)
    throw new TrailError(
      `${repoPath} already exists and is not empty`,
      Exit.usage,
      'choose another place with --repo, or remove it',
    );
  await fsp.rm(repoPath, { recursive: true, force: true });
}

/** A shadow repository of `dir` whose init was killed: not in the host's list (checked
 * before), and either without an `observed` ref, or still holding the init's lock of a
 * process that is gone, or killed before trail wrote anything of its own into what
 * `git init` made. */
async function leftOverFromInterruptedInit(repoPath: string, dir: string): Promise<boolean | 'running'> {
  let repo: Repo;
  try {
    repo = await Repo.open(repoPath);
  } catch {
    // Killed between `git init` and repo.json: only what git init makes, and no refs.
    const GIT_INIT = new Set([
      'HEAD',
      'config',
      'description',
      'hooks',
      'info',
      'objects',
      'refs',
      'branches',
      'trail',
    ]);
    const names = await fsp.readdir(repoPath).catch(() => ['?']);
    // git init also probes for symlinks with a file, then a symlink, named t + 6 random
    // characters (mkstemp's "tXXXXXX"), removed at once: a kill in between leaves it.
    const gitsOwn = (n: string) => GIT_INIT.has(n) || n.endsWith('.lock') || /^t[A-Za-z0-9]{6}$/.test(n);
    if (!names.every(gitsOwn)) return false;
    const config = await fsp.readFile(join(repoPath, 'config'), 'utf8').catch(() => 'bare = true');
    const refs = await fsp.readdir(join(repoPath, 'refs', 'heads')).catch(() => []);
    // Killed while repo.json was being written: only its temp file (writeFileAtomic's).
    const trail = (await fsp.readdir(join(repoPath, 'trail')).catch(() => [])).filter(
      (n) => !/^repo\.json\.tmp\.\d+\.[a-z0-9]+$/.test(n),
    );
    return /bare = true/.test(config) && refs.length === 0 && trail.length === 0;
  }
  try {
    if (repo.info.dir !== dir) return false;
    const owner = await repo.lock.owner();
    if (owner?.purpose === 'init' && !owner.stale) return 'running';
    if ((await repo.readRef(Refs.observed)) === undefined) return true;
    return owner?.purpose === 'init' && owner.stale;
  } finally {
    repo.close();
  }
}

async function realParent(p: string): Promise<string> {
  // The repository may not exist yet: resolve the nearest existing ancestor.
  let cur = p;
  for (;;) {
    try {
      return resolve(await fsp.realpath(cur), ...p.slice(cur.length).split('/').filter(Boolean));
    } catch {
      const up = resolve(cur, '..');
      if (up === cur) return p;
      cur = up;
    }
  }
}
