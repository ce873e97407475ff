import { NOTES_REF } from '../../anchor/shadow-git.js';
import type { Repo } from '../../record/repo/repo.js';
import { isLocalOnly, Refs } from '../../util/refs.js';
import { Exit, TrailError } from '../../util/errors.js';
import { ExecError } from '../../util/exec.js';
import { branches, gitAuthEnv, scrub, type ReviewRemote } from './remote.js';

/** Where the fetched tip of this host's approved branch is kept: under refs/trail/, so it is
 * never pushed back, and a ref keeps its objects from being pruned. */
export const REMOTE_APPROVED = Refs.remoteApproved;

export interface PushResult {
  ref: string;
  remote: string;
  ok: boolean;
  /** git's word for what happened: "new", "up to date", "forced", "rejected (non-fast-forward)"… */
  status: string;
}

export async function remoteGit(repo: Repo, r: ReviewRemote, token: string, args: string[], okCodes = [0]) {
  try {
    return await repo.git(args, { env: gitAuthEnv(token), okCodes });
  } catch (err) {
    if (err instanceof ExecError)
      throw new TrailError(
        scrub(
          `git ${args[0]} to ${r.gitUrl} failed: ${err.result.stderr.trim().split('\n').slice(-3).join(' ')}`,
          token,
        ),
        Exit.error,
      );
    throw err;
  }
}

/**
 * Pushes the trail (observed, forced: the host is the authority on what happened), the proofs
 * (notes, forced for the same reason) and approved (never forced: on GitHub it only moves by
 * merges this host has not applied yet). Only these refs are named, so the local-only
 * refs/trail/* (secret bytes among them) can never be sent: git sends only what the named
 * refs reach.
 */
export async function pushTrail(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  extra: string[] = [],
): Promise<PushResult[]> {
  const b = branches(r);
  const specs = [`+${Refs.observed}:refs/heads/${b.observed}`, `${Refs.approved}:refs/heads/${b.approved}`];
  if (await repo.readRef(NOTES_REF)) specs.push(`+${NOTES_REF}:${b.notes}`);
  specs.push(...extra);
  for (const s of specs) {
    const src = s.replace(/^\+/, '').split(':')[0]!;
    if (isLocalOnly(src) || src === Refs.secrets)
      throw new Error(`refusing to push ${src}: trail's local refs never leave the host`);
  }
  const res = await remoteGit(repo, r, token, ['push', '--porcelain', r.gitUrl, ...specs], [0, 1]);
  const results = parsePorcelain(res.stdout.toString('utf8'));
  if (res.code !== 0 && !results.length)
    throw new TrailError(
      scrub(`git push to ${r.gitUrl} failed: ${res.stderr.trim().split('\n').slice(-3).join(' ')}`, token),
      Exit.error,
    );
  return results;
}

/** `git push --porcelain`: "<flag>\t<from>:<to>\t<summary>" per ref. */
function parsePorcelain(text: string): PushResult[] {
  const out: PushResult[] = [];
  for (const line of text.split('\n')) {
    const m = /^([ +\-*=!])\t([^:]*):([^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const flag = m[1]!;
    const summary = m[4]!;
    out.push({
      ref: m[2]!,
      remote: m[3]!,
      ok: flag !== '!',
      status:
        flag === '='
          ? 'up to date'
          : flag === '*'
            ? 'new'
            : flag === '+'
              ? 'forced'
              : flag === '!'
                ? `rejected ${summary}`
                : 'updated',
    });
  }
  return out;
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

/** Fetches one commit (a pull request's head) into a local-only ref, for validation. */
export async function fetchRef(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  remoteRef: string,
  localRef: string,
): Promise<string | undefined> {
  await remoteGit(repo, r, token, [
    'fetch',
    '--quiet',
    '--no-tags',
    '--no-write-fetch-head',
    r.gitUrl,
    `+${remoteRef}:${localRef}`,
  ]);
  return repo.readRef(localRef);
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
