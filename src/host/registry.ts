import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, relative, isAbsolute, sep } from 'node:path';
import { TrailError, Exit, errorCode } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { releaseLock, takeLock } from '../util/lock-file.js';

/** One watched directory of this host. */
export interface Watched {
  name: string;
  dir: string;
  repo: string;
}

/** Where trail keeps host-wide state: /var/lib/trail as root, the XDG data dir otherwise.
 * TRAIL_HOME overrides both (tests, and hosts with another layout). */
export function trailHome(): string {
  if (process.env.TRAIL_HOME) return resolve(process.env.TRAIL_HOME);
  if (process.getuid?.() === 0) return '/var/lib/trail';
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'trail');
}

function registryFile(): string {
  return join(trailHome(), 'trails.json');
}

export async function listWatched(): Promise<Watched[]> {
  try {
    const data = JSON.parse(await fsp.readFile(registryFile(), 'utf8')) as { trails: Watched[] };
    return data.trails;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw new TrailError(`cannot read ${registryFile()}: ${(err as Error).message}`);
  }
}

async function saveWatched(trails: Watched[]): Promise<void> {
  const sorted = [...trails].sort((a, b) => a.name.localeCompare(b.name));
  await writeFileAtomic(registryFile(), JSON.stringify({ trails: sorted }, null, 2) + '\n');
}

/**
 * Runs `fn` holding the host's registry lock (`<TRAIL_HOME>/registry.lock`, the writer lock's
 * rules: util/lock-file.ts), so that two commands that read the list of watched directories
 * and act on it — two `trail init` at once, an init and a `trail forget` — do it one after
 * the other: without it, each wrote back the list it had read, and one registration was lost;
 * or two inits of one directory both made its repository, and the loser's clean-up deleted
 * the winner's, which stayed listed. Held for short steps only, never for a whole snapshot.
 */
export async function withRegistry<T>(fn: (registry: Registry) => Promise<T>, waitMs = 60_000): Promise<T> {
  await fsp.mkdir(trailHome(), { recursive: true, mode: 0o700 });
  const file = join(trailHome(), 'registry.lock');
  const body = await takeLock(file, { purpose: 'registry', since: new Date().toISOString() }, waitMs, (owner) => {
    const who = owner ? `process ${owner.pid}` : 'another process';
    return new TrailError(`the list of watched directories is busy: ${who} holds ${file}`, Exit.busy, 'try again');
  });
  try {
    return await fn({ list: listWatched, save: saveWatched });
  } finally {
    await releaseLock(file, body);
  }
}

/** The list of watched directories, as seen under the registry lock. */
export interface Registry {
  list(): Promise<Watched[]>;
  save(trails: Watched[]): Promise<void>;
}

/** A name for a directory: its last component (`/etc` → `etc`, `/` → `root`). */
export function defaultName(dir: string): string {
  const parts = resolve(dir).split(sep).filter(Boolean);
  const name = parts.length ? parts.join('-') : 'root';
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** A name for a watched directory (`--name`): it names the shadow repository `<name>.git`
 * and is typed on command lines, so it stays short and plain. */
export function validTrailName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) && !name.endsWith('.git');
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Which watched directory a command means: `--name`, else the one containing the current
 * directory, else the only one; otherwise a clear error listing the names.
 */
export async function pickWatched(name?: string, cwd = process.cwd()): Promise<Watched> {
  const all = await listWatched();
  if (name !== undefined) {
    const w = all.find((t) => t.name === name);
    if (!w) throw new TrailError(`no watched directory named "${name}"${namesHint(all)}`, Exit.notInitialized);
    return w;
  }
  const containing = all.filter((t) => isInside(cwd, t.dir)).sort((a, b) => b.dir.length - a.dir.length);
  if (containing[0]) return containing[0];
  if (all.length === 1) return all[0]!;
  if (all.length === 0)
    throw new TrailError('no directory is watched yet', Exit.notInitialized, 'start with: trail init /etc');
  throw new TrailError(`several directories are watched; choose one with --name${namesHint(all)}`, Exit.usage);
}

function namesHint(all: Watched[]): string {
  return all.length ? ` (known: ${all.map((t) => `${t.name} → ${t.dir}`).join(', ')})` : '';
}
