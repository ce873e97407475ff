import { parseManifest } from '../model/meta.js';
import { TrailError } from '../../util/errors.js';
import { META_DIR, MANIFEST, unescapeContentName, unescapeMetaName } from './layout.js';
import { Refs, type Repo } from '../repo/repo.js';
import type { State } from '../model/state.js';

/** Everything a commit recorded: every path with its metadata and content ids. */
export async function readState(repo: Repo, commit: string): Promise<State> {
  const r = await repo.git(['ls-tree', '-r', '-z', '--full-tree', commit]);
  const content = new Map<string, string>();
  const manifests: [string, string][] = [];
  const metaPrefix = `${META_DIR}/meta/`;
  for (const rec of r.stdout.toString('latin1').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [, , oid] = rec.slice(0, tab).split(' ');
    const path = rec.slice(tab + 1);
    if (path === `${META_DIR}/meta/${MANIFEST}`) manifests.push(['', oid!]);
    else if (path.startsWith(metaPrefix) && path.endsWith('/' + MANIFEST)) {
      const dir = path
        .slice(metaPrefix.length, -(MANIFEST.length + 1))
        .split('/')
        .map(unescapeMetaName)
        .join('/');
      manifests.push([dir, oid!]);
    } else if (!path.startsWith(META_DIR + '/')) {
      const real = path
        .split('/')
        .map((n, i) => unescapeContentName(n, i === 0))
        .join('/');
      content.set(real, oid!);
    }
  }
  const secrets = await readSecretIndex(repo);
  const state: State = new Map();
  const blobs = await Promise.all(manifests.map(([, oid]) => repo.objects().readBlob(oid)));
  manifests.forEach(([dir], i) => {
    const { self, children } = parseManifest(blobs[i]!);
    if (self) state.set(dir, { ...state.get(dir), meta: self });
    for (const [name, meta] of children) {
      if (!isPlainComponent(name))
        throw new TrailError(
          `commit ${commit.slice(0, 12)} has a manifest entry that is not a plain name (${JSON.stringify(name)} in ${JSON.stringify(dir)}): the tree is damaged or was made to attack a restore`,
        );
      const path = dir === '' ? name : `${dir}/${name}`;
      const oid = content.get(path);
      const entry = { ...state.get(path), meta, ...(oid ? { oid } : {}) };
      if (meta.secret) {
        const real = secrets.get(meta.secret);
        if (real) entry.secretOid = real;
      }
      state.set(path, entry);
    }
  });
  return state;
}

/** HMAC digest → blob of the real bytes, from the local-only secrets ref. */
export async function readSecretIndex(repo: Repo): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const head = await repo.readRef(Refs.secrets);
  if (!head) return out;
  const r = await repo.git(['ls-tree', '-r', '-z', head]);
  for (const rec of r.stdout.toString('latin1').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const oid = rec.slice(0, tab).split(' ')[2]!;
    out.set('hmac-sha256:' + rec.slice(tab + 1).replace('/', ''), oid);
  }
  return out;
}

/** One path component: never empty, '.', '..', nor holding '/' or NUL. */
export function isPlainComponent(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
