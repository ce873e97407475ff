import { pickWatched } from '../host/registry.js';
import type { Repo } from '../record/repo/repo.js';
import { makeOut, type Out } from './output.js';

import type { Command } from 'commander';

/** The program's own options, which every command takes: --json and --name. */
export interface GlobalOptions {
  json: boolean;
  name?: string;
}

/** Options of the program plus those of the command. */
export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { json?: boolean; name?: string };
  return { json: !!o.json, name: o.name };
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
  // Loaded here: a command the watcher answers never writes, and need not load these.
  const [{ asNumber, readConfig }, { interruptedRevert }, { ensureHostKey }] = await Promise.all([
    import('../record/repo/settings.js'),
    import('../act/revert-journal.js'),
    import('../host/host-key.js'),
  ]);
  const config = await readConfig(repo);
  await repo.lock.acquire(asNumber(config['lock.timeoutMs'], 30_000), purpose);
  try {
    // The host key on first need (a trail made before keys existed): its commits are signed.
    await ensureHostKey();
    // The revert's machinery loads only when there is a revert to finish.
    if (await interruptedRevert(repo)) {
      const recovered = await (await import('../act/revert.js')).recoverRevert(repo);
      if (recovered) out.warn(recovered);
    }
    return await fn();
  } finally {
    await repo.lock.release();
  }
}

/** What every command starts from: the global options (--json, --name) and where it prints. */
export function commandContext(cmd: Command): { g: GlobalOptions; out: Out } {
  const g = globals(cmd);
  return { g, out: makeOut(g.json) };
}

/** What a command that works on one trail starts from: its options, its output and the
 * shadow repository (see pickWatched for how it is chosen). */
export async function trailContext(cmd: Command): Promise<{ g: GlobalOptions; out: Out; repo: Repo }> {
  const { g, out } = commandContext(cmd);
  return { g, out, repo: await openTrail(g) };
}

/** What a review command starts from: its output, the trail, the GitHub remote and token. */
export async function reviewContext(cmd: Command) {
  const { out, repo } = await trailContext(cmd);
  const { requireRemote, readToken } = await import('../act/review/remote.js');
  const remote = await requireRemote(repo);
  const token = await readToken(remote);
  return { out, repo, remote, token };
}
