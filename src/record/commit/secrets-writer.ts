import type { Repo } from '../repo/repo.js';
import type { Entry, State } from '../model/state.js';
import { serializeTree, type TreeItem } from '../store/object-format.js';
import type { ObjectWriter } from '../store/object-writer.js';
import { readSecretIndex } from '../tree/tree-reader.js';
import { Refs } from '../../util/refs.js';
import { commitMessage, writeCommit, type Actor } from './commit.js';

/** Adds the real bytes of new secret versions to the local-only secrets ref, keyed by
 * digest (fanned out by its first two hex digits). Returns the commit to point it at. */
export async function writeSecretsCommit(
  repo: Repo,
  writer: ObjectWriter,
  state: State,
  previous: State,
  actor: Actor,
  looked?: string[],
): Promise<{ commit: string; parent?: string } | undefined> {
  const fresh = newSecrets(state, previous, looked);
  if (!fresh.length) return undefined;
  const known = await readSecretIndex(repo);
  let added = 0;
  for (const [, e] of fresh) {
    if (e.meta.secret && e.secretOid && known.get(e.meta.secret) !== e.secretOid) {
      known.set(e.meta.secret, e.secretOid);
      added++;
    }
  }
  if (!added) return undefined;
  const tree = await writeSecretsTree(writer, known);
  const parent = await repo.readRef(Refs.secrets);
  const commit = await writeCommit(writer, {
    tree,
    parents: parent ? [parent] : [],
    author: actor,
    message: commitMessage(`secrets: ${added} new version(s)`, ['Local only: this ref is never pushed.'], {
      'Trail-Action': 'secrets',
    }),
    sign: false, // local only
  });
  return { commit, parent };
}

/** Only entries the scan made anew can hold a new secret version; the rest are the recorded
 * entries themselves (and looking at their metadata would parse every cached line). A scan
 * under roots says which paths it looked at: only those can hold one. */
function newSecrets(state: State, previous: State, looked?: string[]): [string, Entry][] {
  const fresh: [string, Entry][] = [];
  for (const p of looked ?? state.keys()) {
    const e = state.get(p);
    if (e?.secretOid && previous.get(p) !== e) fresh.push([p, e]);
  }
  return fresh;
}

async function writeSecretsTree(writer: ObjectWriter, known: Map<string, string>): Promise<string> {
  const fan = new Map<string, TreeItem[]>();
  for (const [digest, oid] of known) {
    const hex = digest.slice('hmac-sha256:'.length);
    const list = fan.get(hex.slice(0, 2)) ?? [];
    list.push({ name: hex.slice(2), mode: '100644', oid });
    fan.set(hex.slice(0, 2), list);
  }
  const top: TreeItem[] = [];
  for (const [dir, items] of fan)
    top.push({ name: dir, mode: '40000', oid: await writer.write('tree', serializeTree(items)) });
  return writer.write('tree', serializeTree(top));
}
