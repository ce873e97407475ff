import { pickWatched } from '../host/registry.js';
import type { Repo } from '../record/repo/repo.js';
import { makeOut, type Out } from './output.js';

import type { Command } from 'commander';

/** Options of the program plus those of the command. */
export function globals(cmd: Command): { json: boolean; name?: string } {
  const o = cmd.optsWithGlobals() as { json?: boolean; name?: string };
  return { json: !!o.json, name: o.name };
}

export interface GlobalOptions {
  json?: boolean;
  name?: string;
}

/** The shadow repository a command works on (see pickWatched for how it is chosen). */
export async function openTrail(opts: GlobalOptions): Promise<Repo> {
  const w = await pickWatched(opts.name);
  // Loaded here, not at the top: a command the watcher answers (status) never opens the
  // repository, and its start-up should not pay for loading it.
  const { Repo } = await import('../record/repo/repo.js');
  return Repo.open(w.repo);
}

/**
 * Runs `fn` as the one writer of the repository. Before anything else, a revert that was
 * interrupted (kill -9, power cut) is finished, and the user is told.
 */
export async function asWriter<T>(repo: Repo, out: Out, purpose: string, fn: () => Promise<T>): Promise<T> {
  const [{ asNumber, readConfig }, { recoverRevert }] = await Promise.all([
    import('../record/repo/settings.js'),
    import('../act/revert.js'),
  ]);
  const config = await readConfig(repo);
  await repo.lock.acquire(asNumber(config['lock.timeoutMs'], 30_000), purpose);
  try {
    const recovered = await recoverRevert(repo);
    if (recovered) out.warn(recovered);
    return await fn();
  } finally {
    await repo.lock.release();
  }
}

/** What a review command starts from: its output, the trail, the GitHub remote and token. */
export async function reviewContext(cmd: Command) {
  const g = globals(cmd);
  const out = makeOut(g.json);
  const repo = await openTrail(g);
  const { requireRemote, readToken } = await import('../act/review/remote.js');
  const remote = await requireRemote(repo);
  const token = await readToken(remote);
  return { out, repo, remote, token };
}
