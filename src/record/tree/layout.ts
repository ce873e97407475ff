/**
 * How a snapshot is laid out in a commit's tree:
 *
 *   <content of the watched dir>   files, symlinks, folders (empty ones as empty trees)
 *   .trail/FORMAT                  "trail <n>": what wrote this tree, so later versions read it
 *   .trail/meta/@meta              manifest of the root folder: "." and its direct children
 *   .trail/meta/<dir>/@meta        one manifest per folder, mirroring the tree
 *
 * One manifest per folder means a one-file change rewrites one small manifest and the trees
 * above it, never a manifest of the whole tree.
 *
 * Names that git or trail reserve are escaped by appending '~' (undone on reading):
 * `.git` and its 8.3 alias `git~1` anywhere (git refuses them in trees: /etc/.git of
 * etckeeper must still be kept), `.trail` at the top, `@meta` inside the meta tree.
 */
export const META_DIR = '.trail';
export const MANIFEST = '@meta';

const GIT_NAMES = /^(\.git|git~1)~*$/i;
const TRAIL_NAME = /^\.trail~*$/;
const MANIFEST_NAME = /^@meta~*$/;

export function contentName(name: string, atRoot: boolean): string {
  return GIT_NAMES.test(name) || (atRoot && TRAIL_NAME.test(name)) ? name + '~' : name;
}

export function metaName(name: string): string {
  return GIT_NAMES.test(name) || MANIFEST_NAME.test(name) ? name + '~' : name;
}

export function unescapeContentName(name: string, atRoot: boolean): string {
  return name.endsWith('~') && (GIT_NAMES.test(name.slice(0, -1)) || (atRoot && TRAIL_NAME.test(name.slice(0, -1))))
    ? name.slice(0, -1)
    : name;
}

export function unescapeMetaName(name: string): string {
  return name.endsWith('~') && (GIT_NAMES.test(name.slice(0, -1)) || MANIFEST_NAME.test(name.slice(0, -1)))
    ? name.slice(0, -1)
    : name;
}

export function formatBlob(format: number): Buffer {
  return Buffer.from(`trail ${format}\n`);
}
