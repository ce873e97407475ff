// A bare mirror that never loses an object. Every look fetches the published branches
// (refs/heads/trail/*) of a repository into refs/witness/seen/OWNER/REPO/…; before a seen
// ref may move backwards or vanish, the tip the witness had accepted is kept under
// refs/witness/kept/OWNER/REPO/HOST/NAME/KIND/<id>, so history rewritten away on GitHub stays
// here as evidence. gc never runs by itself here, and reflogs never expire.
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { gitAuthEnv, scrub } from '../act/review/remote.js';
import { TrailError } from '../util/errors.js';
import { ExecError, run } from '../util/exec.js';
import { gitEnv } from '../util/git-env.js';
import { PUBLISHED_KINDS, type Kind } from './checkpoint-record.js';
import { mgit } from './git-reader.js';

export async function initMirror(gitDir: string): Promise<void> {
  if (!existsSync(gitDir)) await run('git', ['init', '--bare', '--quiet', gitDir], { env: gitEnv() });
  await removeStaleLocks(gitDir);
  // Checked every time: a run killed right after init must not leave gc enabled. One read
  // of the config, and a write only for a value not yet right (a git process each: seven per
  // check was a quarter of what a check spent starting processes).
  const have = new Map(
    (await mgit(gitDir, ['config', '--local', '--null', '--list'])).stdout
      .toString('utf8')
      .split('\0')
      .filter(Boolean)
      .map((e) => [e.slice(0, e.indexOf('\n')).toLowerCase(), e.slice(e.indexOf('\n') + 1)] as const),
  );
  for (const [k, v] of MIRROR_CONFIG) if (have.get(k.toLowerCase()) !== v) await mgit(gitDir, ['config', k, v]);
}

const MIRROR_CONFIG = [
  ['gc.auto', '0'],
  ['gc.autoDetach', 'false'],
  ['gc.pruneExpire', 'never'],
  ['gc.reflogExpire', 'never'],
  ['gc.reflogExpireUnreachable', 'never'],
  ['core.logAllRefUpdates', 'always'],
  ['fetch.fsckObjects', 'true'],
] as const;

/** A run killed by kill -9 in the middle of a git write leaves git's *.lock files behind,
 * and git then refuses that ref forever. Only the witness writes this mirror, and only
 * while it holds the state dir's lock (taken before this runs), so any lock found is stale. */
async function removeStaleLocks(gitDir: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.lock')) await fsp.rm(p, { force: true });
    }
  };
  await walk(join(gitDir, 'refs'));
  await walk(join(gitDir, 'logs'));
  for (const f of ['packed-refs.lock', 'config.lock', 'shallow.lock', 'HEAD.lock'])
    await fsp.rm(join(gitDir, f), { force: true });
}

export function seenPrefix(repository: string): string {
  return `refs/witness/seen/${repository}/`;
}

export interface SeenRef {
  host: string;
  name: string;
  kind: Kind;
  id: string;
}

/** Fetches every published branch of one repository. Returns when it started (unix ms): what
 * it brings was on GitHub no later than that. */
export async function fetchRepository(
  gitDir: string,
  repository: string,
  gitUrl: string,
  token: string | undefined,
): Promise<number> {
  const started = Date.now();
  try {
    await mgit(
      gitDir,
      [
        'fetch',
        '--quiet',
        '--prune',
        '--no-tags',
        '--no-write-fetch-head',
        '--no-auto-gc',
        gitUrl,
        `+refs/heads/trail/*:${seenPrefix(repository)}*`,
      ],
      { env: token ? gitAuthEnv(token) : { GIT_TERMINAL_PROMPT: '0' } },
    );
  } catch (err) {
    const msg = err instanceof ExecError ? err.result.stderr.trim().split('\n').slice(-2).join(' ') : String(err);
    throw new TrailError(`cannot fetch ${repository} from ${gitUrl}: ${scrub(msg, token)}`);
  }
  return started;
}

/** The published branches as fetched: refs/witness/seen/REPO/HOST/NAME/KIND. Other
 * branches under trail/ (review branches) are not the witness's business. */
export async function seenRefs(gitDir: string, repository: string): Promise<SeenRef[]> {
  const prefix = seenPrefix(repository);
  const r = await mgit(gitDir, ['for-each-ref', '--format=%(objectname) %(refname)', prefix]);
  const out: SeenRef[] = [];
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [id, ref] = line.split(' ') as [string, string];
    const parts = ref.slice(prefix.length).split('/');
    if (parts.length !== 3) continue;
    const [host, name, kind] = parts as [string, string, string];
    if (!(PUBLISHED_KINDS as readonly string[]).includes(kind)) continue;
    out.push({ host, name, kind: kind as Kind, id });
  }
  return out;
}

export function keptRef(repository: string, host: string, name: string, kind: Kind, id: string): string {
  return `refs/witness/kept/${repository}/${host}/${name}/${kind}/${id}`;
}

/** Keeps tips (idempotent: a kept ref never moves). */
export async function keepTips(gitDir: string, refs: { ref: string; id: string }[]): Promise<void> {
  if (!refs.length) return;
  const input = refs.map((r) => `update ${r.ref} ${r.id}\n`).join('');
  await mgit(gitDir, ['update-ref', '--stdin'], { input });
}

export async function listKept(gitDir: string, repository?: string): Promise<{ ref: string; id: string }[]> {
  const r = await mgit(gitDir, [
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `refs/witness/kept/${repository ? repository + '/' : ''}`,
  ]);
  return r.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, ref] = l.split(' ') as [string, string];
      return { id, ref };
    });
}
