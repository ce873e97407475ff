// Native git for everything anchoring reads and writes in the shadow repository. Notes in
// particular go through native git only: isomorphic-git's notes break once git switches the
// notes tree to fan-out, which it does by itself past a few hundred notes.
import { run, type RunResult } from '../util/exec.js';
import { gitEnv, TRAIL_IDENTITY } from '../util/git-env.js';
import { LOCAL_PREFIX, Refs } from '../util/refs.js';

/** The proofs, as git notes (Refs.notes in util/refs.ts, where every ref is named). */
export const NOTES_REF = Refs.notes;

/** Refs whose commits are anchored. refs/trail/secrets is left out on purpose: it holds the
 * real bytes of secret files, its content is already committed to by the keyed digests on
 * the anchored branches, and its commit ids — which the notes ref would carry to wherever it
 * is pushed — are unkeyed hashes over those secrets (a guessable secret could be confirmed). */
export const ANCHORED_REF_PREFIXES = ['refs/heads/', LOCAL_PREFIX];
/** The proofs branch is left out too: a proof of a proof would never end (each stamp would
 * make a commit there that waits for the next stamp). refs/heads/checkpoints is anchored
 * like every other branch. */
export const UNANCHORED_REFS: string[] = [Refs.secrets, Refs.proofs];

export function git(gitDir: string, args: string[], input?: Buffer | string, okCodes?: number[]): Promise<RunResult> {
  // GIT_* variables of a surrounding hook or test runner are dropped: the shadow repo is named here.
  const env = gitEnv({ GIT_TERMINAL_PROMPT: '0' });
  return run('git', [`--git-dir=${gitDir}`, ...args], {
    env,
    ...(input !== undefined ? { input } : {}),
    ...(okCodes ? { okCodes } : {}),
  });
}

/** The refs whose commits are stamped: by default every branch and refs/trail/ (a host's
 * shadow repository); `prefixes` narrows it for a repository that is not one (the witness's
 * mirror anchors only its own history, refs/witness/state, never the hosts' commits). */
export async function anchoredRefs(
  gitDir: string,
  prefixes: string[] = ANCHORED_REF_PREFIXES,
): Promise<Map<string, string>> {
  const out = await git(gitDir, ['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)', ...prefixes]);
  const refs = new Map<string, string>();
  for (const line of out.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [oid, type, name] = line.split(' ', 3) as [string, string, string];
    if (type !== 'commit' || UNANCHORED_REFS.includes(name)) continue;
    refs.set(name, oid);
  }
  return refs;
}

export interface CommitInfo {
  id: string;
  parents: string[];
  /** committer time, unix seconds */
  time: number;
}

/** Every commit reachable from the given tips, newest first (git's default order). */
export async function listCommits(gitDir: string, tips: string[]): Promise<CommitInfo[]> {
  if (tips.length === 0) return [];
  const out = await git(
    gitDir,
    ['rev-list', '--no-commit-header', '--format=%H %ct %P', '--stdin'],
    tips.join('\n') + '\n',
  );
  const commits: CommitInfo[] = [];
  for (const line of out.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [id, time, ...parents] = line.split(' ');
    commits.push({ id: id!, time: Number(time), parents: parents.filter((p) => p !== '') });
  }
  return commits;
}

export async function resolveCommit(gitDir: string, rev: string): Promise<string | undefined> {
  const out = await git(
    gitDir,
    ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`],
    undefined,
    [0, 1],
  );
  return out.code === 0 ? out.stdout.toString('utf8').trim() : undefined;
}

/** commit id → note blob id, for every note on the trail notes ref. */
export async function listNotes(gitDir: string): Promise<Map<string, string>> {
  const notes = new Map<string, string>();
  // No notes ref yet: git lists nothing and exits 0.
  const out = await git(gitDir, ['notes', `--ref=${NOTES_REF}`, 'list']);
  for (const line of out.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [blob, commit] = line.split(' ') as [string, string];
    notes.set(commit, blob);
  }
  return notes;
}

/** Every commit that had a note at any point of the notes ref's history. */
export async function everNoted(gitDir: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const has = await git(gitDir, ['show-ref', '--verify', '--quiet', NOTES_REF], undefined, [0, 1]);
  if (has.code !== 0) return seen;
  const out = await git(gitDir, ['log', '--format=', '--name-only', '--no-renames', NOTES_REF]);
  for (const line of out.stdout.toString('latin1').split('\n')) {
    const id = line.replace(/\//g, '');
    if (/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(id)) seen.add(id);
  }
  return seen;
}

/** Contents of many blobs through one `git cat-file --batch`; a missing blob is absent. */
export async function readBlobs(gitDir: string, ids: string[]): Promise<Map<string, Buffer>> {
  const result = new Map<string, Buffer>();
  if (ids.length === 0) return result;
  const out = (await git(gitDir, ['cat-file', '--batch'], ids.join('\n') + '\n')).stdout;
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(0x0a, pos);
    if (nl < 0) break;
    const header = out.subarray(pos, nl).toString('utf8').split(' ');
    pos = nl + 1;
    if (header[1] === 'missing' || header.length < 3) continue;
    const size = Number(header[2]);
    result.set(header[0]!, out.subarray(pos, pos + size));
    pos += size + 1;
  }
  return result;
}

/** Proof bytes per commit (only commits that have a note). */
export async function readProofs(gitDir: string, commits?: Iterable<string>): Promise<Map<string, Buffer>> {
  const notes = await listNotes(gitDir);
  const wanted = commits ? [...commits].filter((c) => notes.has(c)) : [...notes.keys()];
  const blobs = await readBlobs(gitDir, [...new Set(wanted.map((c) => notes.get(c)!))]);
  const proofs = new Map<string, Buffer>();
  for (const c of wanted) {
    const bytes = blobs.get(notes.get(c)!);
    if (bytes) proofs.set(c, bytes);
  }
  return proofs;
}

/**
 * Adds or replaces the notes of many commits as ONE commit on the notes ref, through
 * `git fast-import` (native git; it keeps the notes tree's fan-out right by itself). One
 * process per batch instead of `git notes add` per commit, which spawns a process and writes
 * a notes commit for every single proof. fast-import refuses a non-fast-forward update of
 * the ref, so a concurrent writer makes this fail rather than lose notes.
 */
export async function writeProofNotes(gitDir: string, proofs: Map<string, Uint8Array>, message: string): Promise<void> {
  if (proofs.size === 0) return;
  const tip = await git(gitDir, ['rev-parse', '--verify', '--quiet', NOTES_REF], undefined, [0, 1]);
  const parent = tip.code === 0 ? tip.stdout.toString('utf8').trim() : undefined;
  const now = Math.floor(Date.now() / 1000);
  const msg = Buffer.from(message + '\n', 'utf8');
  const parts: Buffer[] = [
    Buffer.from(
      `feature done\ncommit ${NOTES_REF}\ncommitter ${TRAIL_IDENTITY.name} <${TRAIL_IDENTITY.email}> ${now} +0000\ndata ${msg.length}\n`,
    ),
    msg,
    Buffer.from(parent ? `from ${parent}\n` : ''),
  ];
  for (const [commit, bytes] of proofs) {
    parts.push(Buffer.from(`N inline ${commit}\ndata ${bytes.length}\n`), Buffer.from(bytes), Buffer.from('\n'));
  }
  parts.push(Buffer.from('done\n'));
  await git(gitDir, ['fast-import', '--quiet', '--date-format=raw'], Buffer.concat(parts));
}
