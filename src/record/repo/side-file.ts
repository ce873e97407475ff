import { LooseWriter } from '../store/loose-writer.js';
import { serializeTree } from '../store/object-format.js';
import { commitMessage, writeCommit, type Actor } from '../commit/commit.js';
import type { Repo } from './repo.js';

/**
 * One file kept with its history on a ref of its own (settings, the policy): each change is
 * a commit with its author, so who changed the rules is part of the trail too.
 */
export async function readSideFile(repo: Repo, ref: string, name: string): Promise<Buffer | undefined> {
  const commit = await repo.readRef(ref);
  if (!commit) return undefined;
  let memo = read.get(repo);
  if (!memo) read.set(repo, (memo = new Map()));
  const key = `${ref}\0${name}`;
  const hit = memo.get(key);
  if (hit?.commit === commit) return hit.data;
  const o = await repo.objects().read(`${commit}:${name}`);
  const data = o?.type === 'blob' ? o.content : undefined;
  memo.set(key, { commit, data });
  return data;
}

/** What was read, by the commit it was read from: the daemon reads its settings and policy
 * for every commit, and they change only when their ref moves. */
const read = new WeakMap<Repo, Map<string, { commit: string; data: Buffer | undefined }>>();

export async function writeSideFile(
  repo: Repo,
  ref: string,
  name: string,
  content: Buffer,
  actor: Actor,
  subject: string,
  action: string,
): Promise<string> {
  return writeSideFiles(repo, ref, { [name]: content }, actor, subject, action);
}

export async function writeSideFiles(
  repo: Repo,
  ref: string,
  files: Record<string, Buffer>,
  actor: Actor,
  subject: string,
  action: string,
): Promise<string> {
  const writer = new LooseWriter(repo.gitDir);
  const items = [];
  for (const [name, content] of Object.entries(files))
    items.push({ name, mode: '100644' as const, oid: await writer.write('blob', content) });
  const tree = await writer.write('tree', serializeTree(items));
  const parent = await repo.readRef(ref);
  const commit = await writeCommit(writer, {
    tree,
    parents: parent ? [parent] : [],
    author: actor,
    message: commitMessage(subject, [], { 'Trail-Action': action }),
    sign: false, // config and policy: local-only refs
  });
  await writer.finish();
  await repo.updateRef(ref, commit, parent, subject);
  return commit;
}
