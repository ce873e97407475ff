// The public surface of record/: what the other folders (logs, attribute, decide, act,
// report, watch, cli) use of the core. New code imports from here, not from a file inside
// record/; the files behind it may move (see README.md). Importing this loads all of
// record/, which every command that opens a trail loads anyway.

// The shadow repository and its settings
export { Repo, FORMAT, type RepoInfo } from './repo/repo.js';
export { Refs, PUBLISHED_REFS, isLocalOnly } from '../util/refs.js';
export {
  readConfig,
  readStored,
  writeConfig,
  defaults,
  parseValue,
  asList,
  asNumber,
  KEYS,
  type Config,
  type Value,
} from './repo/settings.js';
export { readSideFile, writeSideFile, writeSideFiles } from './repo/side-file.js';

// Recording: the orchestrations
export { init, type InitOptions } from './init.js';
export { record, recordParts, drift, type RecordOptions, type RecordResult, type Part } from './snapshot.js';
export { scan, type ScanOptions, type ScanResult } from './scanner.js';
export { plan, apply, inScope, type Plan, type ApplyResult } from './restore.js';

// What a snapshot is made of
export type { Entry, State, StatKey } from './model/state.js';
export type { Meta, Kind } from './model/meta.js';
export { parseManifest } from './model/meta.js';
export { diffStates, changeLine, type Change, type ChangeKind } from './model/diff.js';
export { keepCacheInMemory, flushCache } from './model/stat-cache.js';
export { readState } from './tree/tree-reader.js';
export { writeSnapshotTree } from './tree/tree-saver.js';
export { META_DIR, MANIFEST, contentName, metaName, unescapeContentName } from './tree/layout.js';

// Commits and objects, for the side refs others keep (logs, access, the approved baseline)
export { commitMessage, writeCommit, invokingActor, TRAIL_COMMITTER, type Actor } from './commit/commit.js';
export { LooseWriter } from './store/loose-writer.js';
export type { ObjectWriter } from './store/object-writer.js';
export { serializeTree, hashObject, EMPTY_TREE, type TreeItem } from './store/object-format.js';

// Paths and rules
export { abs, type Skipped } from './list/walker.js';
export { makeRules, compileGlobs, type Rules, type Matcher, type ScanRule } from './list/rules.js';
export { rotationBase, compressionOf } from './list/rotated-names.js';
export { keepXattrsInMemory, runXattrsWith } from './read/xattrs.js';
