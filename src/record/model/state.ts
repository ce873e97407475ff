import { LayeredSet, LayeredState } from './layered.js';
import { byteCompare, parentOf, baseName } from '../../util/bytes.js';
import { EMPTY_TREE, hashObject, serializeTree, type TreeItem } from '../store/object-format.js';
import type { ObjectWriter } from '../store/object-writer.js';
import { treeMode, serializeManifest, type Meta } from './meta.js';
import { contentName, metaName, formatBlob, META_DIR, MANIFEST } from '../tree/layout.js';
import { FORMAT } from '../repo/repo.js';

/** One path of a snapshot. Paths are byte strings relative to the watched dir; '' is the
 * watched dir itself. */
export interface Entry {
  meta: Meta;
  /** Blob of the content as the trail shows it: file bytes, symlink target, or, for a
   * secret, the placeholder. */
  oid?: string;
  /** A secret's real bytes (local only). */
  secretOid?: string;
  /** Stat data that lets the next scan trust `oid` without reading the file again. */
  stat?: StatKey;
}

export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export type State = Map<string, Entry>;

export function sameStat(a: StatKey | undefined, b: StatKey): boolean {
  return (
    !!a && a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs
  );
}

/** Folders of a state, deepest first, each with its direct children sorted by name. */
function foldersDeepestFirst(state: State): Folders {
  const children = new Map<string, string[]>();
  for (const [path, e] of state) {
    if (e.meta.kind === 'dir' && !children.has(path)) children.set(path, []);
    if (path === '') continue;
    const parent = parentOf(path);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(path);
  }
  const depth = new Map<string, number>();
  for (const dir of children.keys()) {
    let n = dir === '' ? 0 : 1;
    for (let i = 0; i < dir.length; i++) if (dir.charCodeAt(i) === 0x2f) n++;
    depth.set(dir, n);
  }
  return [...children.entries()]
    .map(([dir, kids]) => [dir, kids.sort(byteCompare)] as [string, string[]])
    .sort((a, b) => depth.get(b[0])! - depth.get(a[0])! || byteCompare(a[0], b[0]));
}

type Folders = [string, string[]][];

/**
 * The folder layout last built from a memo, and the paths it covers: the next state with the
 * very same paths (a file edited, not added or removed: most commits of trail watch) takes it
 * as it is instead of grouping and sorting 50k paths again.
 */
const layouts = new WeakMap<FolderMemo, { folders: Folders; paths: Set<string> }>();

function layoutOf(
  state: State,
  memo: FolderMemo | undefined,
  dirty?: string[],
): { folders: Folders; paths: Set<string> } {
  const last = memo && layouts.get(memo);
  if (last && last.paths.size === state.size) {
    // Only a dirty path can have come or gone, when the caller knows them.
    let same = true;
    for (const p of dirty ?? state.keys())
      if (last.paths.has(p) !== state.has(p)) {
        same = false;
        break;
      }
    if (same) return last;
  }
  return { folders: foldersDeepestFirst(state), paths: new Set(state.keys()) };
}

/**
 * Builds the commit tree of a state: content trees, one manifest per folder, .trail/FORMAT.
 * Only trees whose id is not in `known` are written, so an unchanged folder costs a hash,
 * not a write. Returns the root tree id and the ids of every folder's trees.
 */
/** Per folder, the entries its trees were built from and the ids they came to: a folder whose
 * entries are the very same objects (scan reuses an unchanged path's entry) and whose
 * subfolders came to the same ids is not serialized and hashed again. At 50k files that
 * is ~0.5 s saved per commit for a long-running writer. In memory only. */
export type FolderMemo = Map<
  string,
  { self: Entry | undefined; kids: Entry[]; content?: string; meta: string; manifest: string }
>;

/** `dirty`: every path whose entry may differ from the one the memo was built with (a scan
 * under roots says which); the folders above none of them are taken from the memo as they
 * are, without looking at their entries. */
export async function writeSnapshotTree(
  state: State,
  writer: ObjectWriter,
  known: Set<string> = new Set(),
  memo?: FolderMemo,
  dirty?: string[],
): Promise<{ root: string; trees: Set<string>; folders: FolderMemo }> {
  let folders: FolderMemo = new Map();
  const contentTree = new Map<string, string>();
  const metaTree = new Map<string, string>();
  let trees = new Set<string>();
  let rootItems: TreeItem[] = [];
  const put = async (type: 'tree' | 'blob', data: Buffer) => {
    const oid = hashObject(type, data);
    if (!known.has(oid)) await writer.write(type, data);
    trees.add(oid);
    fresh.add(oid);
    return oid;
  };
  const layout = layoutOf(state, memo, dirty);
  const touched = memo && dirty ? foldersAbove(dirty) : undefined;
  // The very paths of the memo's build, and the dirty ones known: only the folders above a
  // dirty path are visited. Every other folder is the memo's, taken over as a whole (visiting
  // 4k folders one by one was most of a one-file commit at 50k files); the ids already known
  // stay known, so that those folders' trees are not written again.
  const onlyTouched = !!touched && layouts.get(memo!) === layout;
  let todo = layout.folders;
  if (onlyTouched) {
    // Layered over the memo's and the known ids, not copies of them (thousands per commit).
    // (A layer is copied per commit and flattened at about √(2 × size × growth) entries.)
    folders = LayeredState.over(memo!, 256);
    trees = LayeredSet.over(known, 512);
    todo = layout.folders.filter(([dir]) => touched.has(dir));
  }
  layouts.set(folders, layout);
  const fresh = new Set<string>();
  const contentOf = (dir: string) => contentTree.get(dir) ?? (onlyTouched ? folders.get(dir)?.content : undefined);
  const metaOf = (dir: string) => metaTree.get(dir) ?? (onlyTouched ? folders.get(dir)?.meta : undefined);
  // A folder built as the memo has it: its ids taken as they are.
  const reuse = (dir: string, kids: string[], kept: NonNullable<ReturnType<FolderMemo['get']>>) => {
    for (const oid of [kept.content, kept.meta, kept.manifest]) if (oid) (trees.add(oid), fresh.add(oid));
    if (kept.content) contentTree.set(dir, kept.content);
    metaTree.set(dir, kept.meta);
    folders.set(dir, kept);
    if (dir === '') rootItems = rootContentItems(state, kids, contentOf);
  };
  for (const [dir, kids] of todo) {
    const kept = touched && !touched.has(dir) ? memo!.get(dir) : undefined;
    if (kept) {
      reuse(dir, kids, kept);
      continue;
    }
    const selfEntry = state.get(dir);
    const kidEntries = kids.map((k) => state.get(k)!);
    const prev = memo?.get(dir);
    if (
      prev &&
      prev.self === selfEntry &&
      sameKids(prev.kids, kidEntries) &&
      kids.every((k) => sameSubfolder(k, memo!, contentOf, metaOf))
    ) {
      reuse(dir, kids, prev);
      continue;
    }
    const self = selfEntry?.meta ?? { kind: 'dir', mode: 0o755, uid: 0, gid: 0 };
    const items: TreeItem[] = [];
    const metaItems: TreeItem[] = [];
    const metas: [string, Meta][] = [];
    for (const path of kids) {
      const e = state.get(path)!;
      const name = baseName(path);
      metas.push([name, e.meta]);
      const mode = treeMode(e.meta);
      if (mode === '40000') {
        items.push({ name: contentName(name, dir === ''), mode, oid: contentOf(path) ?? EMPTY_TREE });
        const m = metaOf(path);
        if (m) metaItems.push({ name: metaName(name), mode: '40000', oid: m });
      } else if (mode && e.oid) {
        items.push({ name: contentName(name, dir === ''), mode, oid: e.oid });
      }
    }
    const manifest = await put('blob', serializeManifest(self, metas));
    metaItems.push({ name: MANIFEST, mode: '100644', oid: manifest });
    if (dir === '') rootItems = items;
    else contentTree.set(dir, await put('tree', serializeTree(items)));
    metaTree.set(dir, await put('tree', serializeTree(metaItems)));
    folders.set(dir, {
      self: selfEntry,
      kids: kidEntries,
      content: contentTree.get(dir),
      meta: metaTree.get(dir)!,
      manifest,
    });
  }
  const trailTree = await put(
    'tree',
    serializeTree([
      { name: 'FORMAT', mode: '100644', oid: await put('blob', formatBlob(FORMAT)) },
      { name: 'meta', mode: '40000', oid: metaTree.get('')! },
    ]),
  );
  rootItems.push({ name: META_DIR, mode: '40000', oid: trailTree });
  const root = await put('tree', serializeTree(rootItems));
  // Ids kept from `known` that this snapshot no longer holds (they stay in the repository, so
  // knowing them is harmless) are dropped once they outnumber the snapshot's own.
  if (onlyTouched && trees.size > 2 * (3 * folders.size + fresh.size)) {
    trees = new Set();
    for (const f of folders.values()) for (const oid of [f.content, f.meta, f.manifest]) if (oid) trees.add(oid);
    for (const oid of fresh) trees.add(oid);
  }
  return { root, trees, folders };
}

/** Each path, and every folder above it: the folders whose trees a change there may alter. */
function foldersAbove(paths: Iterable<string>): Set<string> {
  const out = new Set<string>(['']);
  for (const p of paths) {
    for (let q = p; q !== '' && !out.has(q); q = parentOf(q)) out.add(q);
  }
  return out;
}

function sameKids(a: Entry[], b: Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A child that is a folder came to the same tree ids as when the memo was made (a change
 * deeper down changes them); any other child is not a folder and has none. */
function sameSubfolder(
  kid: string,
  memo: FolderMemo,
  contentOf: (dir: string) => string | undefined,
  metaOf: (dir: string) => string | undefined,
): boolean {
  const m = metaOf(kid);
  if (m === undefined) return true;
  const before = memo.get(kid);
  return !!before && before.meta === m && before.content === contentOf(kid);
}

/** The root's content items (the root has no content tree of its own to remember). */
function rootContentItems(state: State, kids: string[], contentOf: (dir: string) => string | undefined): TreeItem[] {
  const items: TreeItem[] = [];
  for (const path of kids) {
    const e = state.get(path)!;
    const mode = treeMode(e.meta);
    if (mode === '40000') items.push({ name: contentName(path, true), mode, oid: contentOf(path) ?? EMPTY_TREE });
    else if (mode && e.oid) items.push({ name: contentName(path, true), mode, oid: e.oid });
  }
  return items;
}
