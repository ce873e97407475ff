import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../util/errors.js';
import type { Repo } from '../record/repo/repo.js';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Loop safety for protect: a path restored too often in a window (another program keeps
 * rewriting it) is given up on — the rule turns into an alert for it — instead of two
 * writers fighting forever (Argo CD's self-heal has the same brake).
 */
type History = Record<string, number[]>;

function file(repo: Repo): string {
  return join(repo.stateDir, 'protect-history.json');
}

async function load(repo: Repo): Promise<History> {
  try {
    return JSON.parse(await fsp.readFile(file(repo), 'utf8')) as History;
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || err instanceof SyntaxError) return {};
    throw err;
  }
}

/** Splits paths into those that may be restored now (and counts them) and those given up on. */
export async function admitRestores(
  repo: Repo,
  paths: string[],
  max: number,
  windowSeconds: number,
  now = Date.now(),
): Promise<{ restore: string[]; gaveUp: string[] }> {
  const history = await load(repo);
  const since = now - windowSeconds * 1000;
  for (const [p, times] of Object.entries(history)) {
    const recent = times.filter((t) => t >= since);
    if (recent.length) history[p] = recent;
    else delete history[p];
  }
  const restore: string[] = [];
  const gaveUp: string[] = [];
  for (const p of paths) {
    const times = history[p] ?? [];
    if (times.length >= max) gaveUp.push(p);
    else {
      restore.push(p);
      history[p] = [...times, now];
    }
  }
  await writeFileAtomic(file(repo), JSON.stringify(history));
  return { restore, gaveUp };
}
