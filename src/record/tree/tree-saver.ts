import { LayeredSet, LayeredState } from '../model/layered.js';
import { byteCompare, parentOf, baseName } from '../../util/bytes.js';
import { EMPTY_TREE, hashObject, serializeTree, type TreeItem } from '../store/object-format.js';
import type { ObjectWriter } from '../store/object-writer.js';
import { treeMode, serializeManifest, type Meta } from '../model/meta.js';
import type { Entry, FolderMemo, State } from '../model/state.js';
import { contentName, metaName, formatBlob, META_DIR, MANIFEST } from './layout.js';
import { FORMAT } from '../repo/repo.js';

type Folders = [string, string[]][];
type Built = NonNullable<ReturnType<FolderMemo['get']>>;

/**
 * Builds the commit tree of a state: content trees, one manifest per folder, .trail/FORMAT
 * (the layout is layout.ts's). Only trees whose id is not in `known` are written, so an
 * unchanged folder costs a hash, not a write. Returns the root tree id, the ids of every
 * folder's trees, and the memo of this build for the next one.
 *
 * `dirty`: every path whose entry may differ from the one the memo was built with (a scan
 * under roots says which); the folders above none of them are taken from the memo as they
 * are, without looking at their entries.
 */
export async function writeSnapshotTree(
  state: State,
  writer: ObjectWriter,
  known: Set<string> = new Set(),
  memo?: FolderMemo,
  dirty?: string[],
): Promise<{ root: string; trees: Set<string>; folders: FolderMemo }> {
  return new TreeSaver(state, writer, known, memo, dirty).save();
}

/** One build of a snapshot's trees, folder by folder, deepest first. */
class TreeSaver {
  private folders: FolderMemo = new Map();
  private readonly contentTree = new Map<string, string>();
  private readonly metaTree = new Map<string, string>();
  private trees = new Set<string>();
  /** The ids this build made or took over (the rest of `trees` may be known ids only). */
  private readonly fresh = new Set<string>();
  private rootItems: TreeItem[] = [];
  private readonly layout: { folders: Folders; paths: Set<string> };
  /** With a memo and the dirty paths: the folders above a dirty path, the only ones visited. */
  private readonly touched: Set<string> | undefined;
  private readonly onlyTouched: boolean;

  constructor(
    private readonly state: State,
    private readonly writer: ObjectWriter,
    private readonly known: Set<string>,
    private readonly memo: FolderMemo | undefined,
    dirty: string[] | undefined,
  ) {
    this.layout = layoutOf(state, memo, dirty);
    this.touched = memo && dirty ? foldersAbove(dirty) : undefined;
    // The very paths of the memo's build, and the dirty ones known: only the folders above a
    // dirty path are visited. Every other folder is the memo's, taken over as a whole (visiting
    // 4k folders one by one was most of a one-file commit at 50k files); the ids already known
    // stay known, so that those folders' trees are not written again.
    this.onlyTouched = !!this.touched && layouts.get(memo!) === this.layout;
  }

  async save(): Promise<{ root: string; trees: Set<string>; folders: FolderMemo }> {
    let todo = this.layout.folders;
    if (this.onlyTouched) {
      // Layered over the memo's and the known ids, not copies of them (thousands per commit).
      // (A layer is copied per commit and flattened at about √(2 × size × growth) entries.)
      this.folders = LayeredState.over(this.memo!, 256);
      this.trees = LayeredSet.over(this.known, 512);
      todo = todo.filter(([dir]) => this.touched!.has(dir));
    }
    layouts.set(this.folders, this.layout);
    for (const [dir, kids] of todo) await this.saveFolder(dir, kids);
    const root = await this.saveRoot();
    this.dropStaleIds();
    return { root, trees: this.trees, folders: this.folders };
  }

  private async put(type: 'tree' | 'blob', data: Buffer): Promise<string> {
    const oid = hashObject(type, data);
    if (!this.known.has(oid)) await this.writer.write(type, data);
    this.trees.add(oid);
    this.fresh.add(oid);
    return oid;
  }

  private contentOf = (dir: string): string | undefined =>
    this.contentTree.get(dir) ?? (this.onlyTouched ? this.folders.get(dir)?.content : undefined);
  private metaOf = (dir: string): string | undefined =>
    this.metaTree.get(dir) ?? (this.onlyTouched ? this.folders.get(dir)?.meta : undefined);

  private async saveFolder(dir: string, kids: string[]): Promise<void> {
    const kept = this.touched && !this.touched.has(dir) ? this.memo!.get(dir) : undefined;
    if (kept) return this.reuse(dir, kids, kept);
    const selfEntry = this.state.get(dir);
    const kidEntries = kids.map((k) => this.state.get(k)!);
    const prev = this.memo?.get(dir);
    if (
      prev &&
      prev.self === selfEntry &&
      sameKids(prev.kids, kidEntries) &&
      kids.every((k) => sameSubfolder(k, this.memo!, this.contentOf, this.metaOf))
    )
      return this.reuse(dir, kids, prev);
    const manifest = await this.build(dir, kids, selfEntry?.meta ?? { kind: 'dir', mode: 0o755, uid: 0, gid: 0 });
    this.folders.set(dir, {
      self: selfEntry,
      kids: kidEntries,
      content: this.contentTree.get(dir),
      meta: this.metaTree.get(dir)!,
      manifest,
    });
  }

  /** A folder built as the memo has it: its ids taken as they are. */
  private reuse(dir: string, kids: string[], kept: Built): void {
    for (const oid of [kept.content, kept.meta, kept.manifest]) if (oid) (this.trees.add(oid), this.fresh.add(oid));
    if (kept.content) this.contentTree.set(dir, kept.content);
    this.metaTree.set(dir, kept.meta);
    this.folders.set(dir, kept);
    if (dir === '') this.rootItems = rootContentItems(this.state, kids, this.contentOf);
  }

  /** Writes a folder's content tree, manifest and meta tree; returns the manifest's id. */
  private async build(dir: string, kids: string[], self: Meta): Promise<string> {
    const items: TreeItem[] = [];
    const metaItems: TreeItem[] = [];
    const metas: [string, Meta][] = [];
    for (const path of kids) {
      const e = this.state.get(path)!;
      const name = baseName(path);
      metas.push([name, e.meta]);
      const mode = treeMode(e.meta);
      if (mode === '40000') {
        items.push({ name: contentName(name, dir === ''), mode, oid: this.contentOf(path) ?? EMPTY_TREE });
        const m = this.metaOf(path);
        if (m) metaItems.push({ name: metaName(name), mode: '40000', oid: m });
      } else if (mode && e.oid) {
        items.push({ name: contentName(name, dir === ''), mode, oid: e.oid });
      }
    }
    const manifest = await this.put('blob', serializeManifest(self, metas));
    metaItems.push({ name: MANIFEST, mode: '100644', oid: manifest });
    if (dir === '') this.rootItems = items;
    else this.contentTree.set(dir, await this.put('tree', serializeTree(items)));
    this.metaTree.set(dir, await this.put('tree', serializeTree(metaItems)));
    return manifest;
  }

  /** The root tree: the watched dir's content and .trail/ (FORMAT and the meta tree). */
  private async saveRoot(): Promise<string> {
    const trailTree = await this.put(
      'tree',
      serializeTree([
        { name: 'FORMAT', mode: '100644', oid: await this.put('blob', formatBlob(FORMAT)) },
        { name: 'meta', mode: '40000', oid: this.metaTree.get('')! },
      ]),
    );
    this.rootItems.push({ name: META_DIR, mode: '40000', oid: trailTree });
    return this.put('tree', serializeTree(this.rootItems));
  }

  /** Ids kept from `known` that this snapshot no longer holds (they stay in the repository, so
   * knowing them is harmless) are dropped once they outnumber the snapshot's own. */
  private dropStaleIds(): void {
    if (!this.onlyTouched || this.trees.size <= 2 * (3 * this.folders.size + this.fresh.size)) return;
    this.trees = new Set();
    for (const f of this.folders.values())
      for (const oid of [f.content, f.meta, f.manifest]) if (oid) this.trees.add(oid);
    for (const oid of this.fresh) this.trees.add(oid);
  }
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
