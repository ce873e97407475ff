import { NOTES_REF } from '../../anchor/shadow-git.js';
import { Refs, type Repo } from '../../record/repo/repo.js';
import { sweepGitLocks } from '../../util/git-lock-sweeper.js';
import { remoteGit } from './push.js';
import { branches, readToken, requireRemote } from './remote.js';

/**
 * GitHub as a witness outside the host (verify check 6): a local root can reset a ref to an
 * older commit and delete the newer proofs, leaving a shorter history that is consistent on
 * its own. What was pushed cannot be taken back that way, so every pushed commit must still
 * be in the local trail, and every pushed proof still be there, unchanged.
 */
export interface WitnessFinding {
  severity: 'fail';
  kind: 'history-missing' | 'approved-missing' | 'proof-missing' | 'proof-altered';
  commit?: string;
  message: string;
}

const SEEN = Refs.witness;

export async function checkAgainstRemote(repo: Repo): Promise<{
  remote: string;
  findings: WitnessFinding[];
  compared: { observed?: string; approved?: string; proofs: number };
}> {
  const r = await requireRemote(repo);
  const token = await readToken(r);
  const b = branches(r);
  const findings: WitnessFinding[] = [];
  const compared: { observed?: string; approved?: string; proofs: number } = { proofs: 0 };
  const heads = (
    await remoteGit(repo, r, token, [
      'ls-remote',
      r.gitUrl,
      `refs/heads/${b.observed}`,
      `refs/heads/${b.approved}`,
      b.notes,
    ])
  ).stdout.toString();
  const has = (ref: string) => heads.split('\n').some((l) => l.endsWith('\t' + ref));
  // verify fetches without trail's writer lock (it only reads the trail): a lock on its own
  // witness refs left by a killed verify is cleared here, a concurrent verify's waited for.
  await sweepGitLocks(repo.gitDir, { only: (rel) => rel.startsWith(`${SEEN}/`) || rel.startsWith(`logs/${SEEN}/`) });

  for (const [which, branch, local] of [
    ['observed', b.observed, Refs.observed],
    ['approved', b.approved, Refs.approved],
  ] as const) {
    if (!has(`refs/heads/${branch}`)) continue;
    await remoteGit(repo, r, token, [
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      r.gitUrl,
      `+refs/heads/${branch}:${SEEN}/${which}`,
    ]);
    const pushed = await repo.readRef(`${SEEN}/${which}`);
    const mine = await repo.readRef(local);
    if (!pushed) continue;
    compared[which] = pushed;
    const ok =
      mine !== undefined &&
      (await repo.git(['merge-base', '--is-ancestor', pushed, mine], { okCodes: [0, 1] })).code === 0;
    // approved may legitimately move past what was pushed, never away from it.
    if (!ok) {
      findings.push({
        severity: 'fail',
        kind: which === 'observed' ? 'history-missing' : 'approved-missing',
        commit: pushed,
        message: `${which} ${pushed.slice(0, 12)} was pushed to ${r.owner}/${r.repo} but is not in the local ${which} (${mine?.slice(0, 12) ?? 'missing'}): the local history was reset or rewritten`,
      });
    }
  }

  if (has(b.notes)) {
    await remoteGit(repo, r, token, [
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      r.gitUrl,
      `+${b.notes}:${SEEN}/notes`,
    ]);
    const list = async (ref: string) => {
      const out = await repo.git(['notes', `--ref=${ref}`, 'list'], { okCodes: [0, 1, 128] });
      const m = new Map<string, string>();
      for (const line of out.stdout.toString().split('\n')) {
        const [blob, commit] = line.split(' ');
        if (blob && commit) m.set(commit, blob);
      }
      return m;
    };
    const [pushed, local] = await Promise.all([
      list(`${SEEN}/notes`),
      (await repo.readRef(NOTES_REF)) ? list(NOTES_REF) : Promise.resolve(new Map<string, string>()),
    ]);
    compared.proofs = pushed.size;
    for (const [commit, blob] of pushed) {
      const mine = local.get(commit);
      if (mine === undefined)
        findings.push({
          severity: 'fail',
          kind: 'proof-missing',
          commit,
          message: `the proof of ${commit.slice(0, 12)} was pushed to ${r.owner}/${r.repo} but is gone locally`,
        });
      else if (mine !== blob) {
        // An upgrade (pending → Bitcoin) rewrites a proof; it must still be one the pushed proof
        // grew into, which verify checks on its own. Report only what cannot be an upgrade:
        // a local proof smaller than the pushed one.
        const [a, bl] = await Promise.all([repo.git(['cat-file', '-s', blob]), repo.git(['cat-file', '-s', mine])]);
        if (Number(bl.stdout.toString()) < Number(a.stdout.toString())) {
          findings.push({
            severity: 'fail',
            kind: 'proof-altered',
            commit,
            message: `the local proof of ${commit.slice(0, 12)} is not the one pushed to ${r.owner}/${r.repo} (and not an upgrade of it)`,
          });
        }
      }
    }
  }
  return { remote: `${r.owner}/${r.repo}`, findings, compared };
}
