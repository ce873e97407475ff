// Every OpenTimestamps proof, also on a branch: refs/heads/proofs, published as
// `trail/HOST/NAME/proofs` (README "Formats → Proofs branch"). GitHub's rulesets protect
// branches, not refs/notes/*, and a proof lost on the host cannot be fetched again (each stamp
// has its own nonce), so the branch is the copy that counts off the host. Layout: one file
// per stamped commit, `XX/YYYY….ots` (the commit id, its first two hex digits a folder), the
// standard detached .ots whose file digest is that commit id. A file is added or replaced by
// its upgraded form, never removed: deleting a note later leaves the branch as it was.
//
// How: `git fast-import` edits the fan-out tree (as for the notes) on a scratch ref outside
// everything trail anchors or pushes; the commit on the branch is then written by trail
// itself, signed with the host key like every published commit (git 2.39's fast-import
// cannot carry a signature), and the branch moves by compare-and-swap in one transaction
// that also drops the scratch ref.
import { commitSigner } from '../host/host-key.js';
import { signCommitObject } from '../host/ssh-signer.js';
import { hostName } from '../util/accounts.js';
import { TRAIL_IDENTITY } from '../util/git-env.js';
import { PUBLISHED_BRANCHES } from '../util/refs.js';
import { git, readProofs } from './shadow-git.js';

export const PROOFS_REF = PUBLISHED_BRANCHES.proofs;
/** Where fast-import builds the next tree: not under refs/heads/ or refs/trail/, so never
 * stamped, pushed or listed as a branch; left behind only by a kill, and reset each time. */
const SCRATCH_REF = 'refs/trail-work/proofs';

/** `XX/YYYY….ots` for a commit id. */
export function proofPath(commit: string): string {
  return `${commit.slice(0, 2)}/${commit.slice(2)}.ots`;
}

async function revParse(gitDir: string, rev: string): Promise<string | undefined> {
  const r = await git(gitDir, ['rev-parse', '--verify', '--quiet', rev], undefined, [0, 1]);
  return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

/**
 * Adds (or replaces) these proofs on the proofs branch as one signed commit, and returns it
 * (undefined when there was nothing to add). The first commit of the branch also carries every
 * proof already kept as a note, so that a trail stamped before the branch existed publishes
 * its older proofs too. Run under the anchor lock (stampBatch and upgrade do).
 */
export async function publishProofs(
  gitDir: string,
  proofs: Map<string, Uint8Array>,
  message: string,
): Promise<string | undefined> {
  const tip = await revParse(gitDir, PROOFS_REF);
  let all = proofs;
  if (!tip) {
    all = new Map<string, Uint8Array>(await readProofs(gitDir));
    for (const [c, b] of proofs) all.set(c, b);
  }
  if (all.size === 0) return undefined;
  const msg = Buffer.from(message + '\n', 'utf8');
  const now = Math.floor(Date.now() / 1000);
  const who = `${TRAIL_IDENTITY.name} <${TRAIL_IDENTITY.name}@${hostName().replace(/[<>\s]/g, '')}> ${now} +0000`;
  const parts: Buffer[] = [
    Buffer.from(`feature done\nreset ${SCRATCH_REF}\ncommit ${SCRATCH_REF}\ncommitter ${who}\ndata ${msg.length}\n`),
    msg,
    Buffer.from(tip ? `from ${tip}\n` : ''),
  ];
  for (const [commit, bytes] of [...all].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(commit)) throw new Error(`not a commit id: ${JSON.stringify(commit)}`);
    parts.push(
      Buffer.from(`M 100644 inline ${proofPath(commit)}\ndata ${bytes.length}\n`),
      Buffer.from(bytes),
      Buffer.from('\n'),
    );
  }
  parts.push(Buffer.from('done\n'));
  // --force: the scratch ref may hold the tree of a run that was killed.
  await git(gitDir, ['fast-import', '--quiet', '--force', '--date-format=raw'], Buffer.concat(parts));
  const tree = await revParse(gitDir, `${SCRATCH_REF}^{tree}`);
  if (!tree) throw new Error('git fast-import made no tree for the proofs branch');

  let body: Buffer = Buffer.from(
    `tree ${tree}\n${tip ? `parent ${tip}\n` : ''}author ${who}\ncommitter ${who}\n\n${message}\n`,
    'utf8',
  );
  const sign = await commitSigner();
  if (sign) body = signCommitObject(body, sign(body));
  const commit = (await git(gitDir, ['hash-object', '-t', 'commit', '-w', '--stdin'], body)).stdout
    .toString('utf8')
    .trim();
  // One transaction: the branch moves only from the tip read above (a concurrent writer makes
  // this fail rather than lose proofs), and the scratch ref goes with it.
  await git(
    gitDir,
    ['update-ref', '-m', 'trail: proofs', '--stdin'],
    `start\nupdate ${PROOFS_REF} ${commit} ${tip ?? '0'.repeat(commit.length)}\ndelete ${SCRATCH_REF}\ncommit\n`,
  );
  return commit;
}
