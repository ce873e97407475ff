import type { Repo } from '../../record/repo/repo.js';
import { isLocalOnly, Refs } from '../../util/refs.js';
import { Exit, TrailError } from '../../util/errors.js';
import { policyAlert } from '../publish/publisher.js';
import {
  parsePorcelain,
  pushRound,
  throwUnreached,
  type PublishAlert,
  type PushResult,
  type RoundOutcome,
} from '../publish/ref-pusher.js';
import { branches, remoteGit, REMOTE_APPROVED, type ReviewRemote } from './remote.js';

export { REMOTE_APPROVED, remoteGit } from './remote.js';

export type { PushResult } from '../publish/ref-pusher.js';

/**
 * Pushes every published ref (observed, approved, the logs and access trails, proofs,
 * checkpoints, and the proofs' notes) in one atomic push, never forced: the same round the
 * daemon's publisher runs (act/publish/ref-pusher.ts), offering every ref so that each one's
 * state is reported. Only the allow-listed refs can be named, so the local-only refs/trail/*
 * (secret bytes among them) never leave: git sends only what the named refs reach. A remote
 * that cannot be reached is an error; a refused ref is a result (and an alarm, alerted once,
 * unless it is approved waiting for review sync).
 */
export async function publishNow(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  opts: { alert?: PublishAlert } = {},
): Promise<RoundOutcome> {
  // A generous bound: a first push of a large trail takes minutes; a hung remote must not
  // hold the command (and, from review, the write lock) for ever.
  const o = throwUnreached(
    await pushRound(repo, r, token, { all: true, alert: opts.alert ?? policyAlert(repo), timeoutMs: 600_000 }),
  );
  if (o.error) throw new TrailError(o.error, Exit.error);
  return o;
}

export async function pushTrail(repo: Repo, r: ReviewRemote, token: string): Promise<PushResult[]> {
  return (await publishNow(repo, r, token)).refs.map(({ ref, remote, ok, status }) => ({ ref, remote, ok, status }));
}

/** Fetches this host's approved branch from GitHub; returns its tip, or undefined when the
 * branch does not exist there yet. */
export async function fetchApproved(repo: Repo, r: ReviewRemote, token: string): Promise<string | undefined> {
  const b = branches(r);
  const ls = await remoteGit(repo, r, token, ['ls-remote', '--heads', r.gitUrl, `refs/heads/${b.approved}`]);
  if (!ls.stdout.toString().trim()) return undefined;
  await remoteGit(repo, r, token, [
    'fetch',
    '--quiet',
    '--no-tags',
    '--no-write-fetch-head',
    r.gitUrl,
    `+refs/heads/${b.approved}:${REMOTE_APPROVED}`,
  ]);
  return repo.readRef(REMOTE_APPROVED);
}

/** Puts GitHub's approved branch back to what this host holds, but only if nobody moved it
 * again meanwhile (a lease): how a refused merge or direct push is undone on GitHub. */
export async function resetRemoteApproved(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  expectedRemote: string,
): Promise<boolean> {
  const b = branches(r);
  const res = await remoteGit(
    repo,
    r,
    token,
    [
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${b.approved}:${expectedRemote}`,
      r.gitUrl,
      `+${Refs.approved}:refs/heads/${b.approved}`,
    ],
    [0, 1],
  );
  return parsePorcelain(res.stdout.toString()).every((p) => p.ok);
}

export async function pushBranch(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  localRef: string,
  branch: string,
): Promise<PushResult[]> {
  if (isLocalOnly(localRef)) throw new Error(`refusing to push ${localRef}`);
  const res = await remoteGit(
    repo,
    r,
    token,
    ['push', '--porcelain', r.gitUrl, `+${localRef}:refs/heads/${branch}`],
    [0, 1],
  );
  const results = parsePorcelain(res.stdout.toString());
  if (!results.every((p) => p.ok))
    throw new TrailError(
      `GitHub refused the push of ${branch}: ${results.map((p) => p.status).join(', ') || res.stderr.trim()}`,
      Exit.error,
    );
  return results;
}
