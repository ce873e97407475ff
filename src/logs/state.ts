import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { errorCode } from '../util/errors.js';
import type { Repo } from '../record/repo/repo.js';

/**
 * What trail knows of each tracked log. A log is a sequence of generations: one per inode it
 * lived in (a rotation or a detected tampering starts a new one). A generation is trusted
 * from the moment it was first seen; from then on only appends are allowed.
 *
 * This working state lives in `<repo>/trail/logs/state.json` (local, rewritten at each
 * check); what makes it evidence is the checkpoint of it committed to refs/trail/logs and
 * anchored with the rest of the trail.
 */

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The prefix [0, at) hashed to sha256; `time`: when it was seen so. One per checkpoint in
 * which the generation grew: a later divergence is placed between two marks, which also
 * says when the altered bytes had been written. */
export interface Mark {
  at: number;
  sha256: string;
  time: string;
}

/** Bytes [from, to) of a generation, kept as a git blob (logs.keepAppended). */
export interface Chunk {
  from: number;
  to: number;
  oid: string;
}

export type EndHow =
  'rotated' | 'copytruncate' | 'compressed' | 'removed' | 'truncated' | 'rewritten' | 'deleted' | 'replaced';

export interface Generation {
  /** 1, 2, 3… per log. */
  n: number;
  dev: number;
  ino: number;
  /** Where this inode is now: the log's path, or its rotated name (auth.log.1). */
  location: string;
  /** Bytes verified so far, and the SHA-256 of exactly those bytes. */
  length: number;
  sha256: string;
  since: string;
  lastSeen: string;
  marks: Mark[];
  chunks: Chunk[];
  /** The last bytes before `length` (base64): a cheap check between full re-hashes. */
  tail: string;
  ended?: { time: string; how: EndHow; to?: string };
}

export type IncidentKind = 'truncated' | 'rewritten' | 'deleted' | 'replaced';

export interface Incident {
  kind: IncidentKind;
  path: string;
  generation: number;
  /** When trail found it, and the last time the bytes were seen intact before. */
  detected: string;
  lastIntact: string;
  /** Bytes verified before; bytes on disk now (undefined when the file is gone). */
  verifiedLength: number;
  sizeNow?: number;
  /** First byte that differs, when known exactly (kept bytes, or a plain truncation). */
  offset?: number;
  /** The altered bytes lie in [from, to), appended between fromTime and toTime. */
  range?: { from: number; to: number; fromTime: string; toTime: string };
  removed?: string;
  inserted?: string;
  summary: string;
  /** The checkpoint commit that recorded it. */
  commit?: string;
}

export interface LogFile {
  path: string;
  generations: number;
  current?: Generation;
  /** Earlier generations still on disk under a rotated name: followed until compressed or removed. */
  rotated: Generation[];
  /** Links every finished generation: sha256(previous chain, n, length, sha256). */
  chain: string;
  incidents: Incident[];
}

export interface LogState {
  version: 1;
  files: Record<string, LogFile>;
  lastCheckpoint?: { commit: string; time: string };
  /** Of the last checkpoint's content (without its time): nothing new, no commit. */
  lastDigest?: string;
  /** Kept chunks not yet made reachable from refs/trail/logs-data. */
  pendingChunks: { path: string; generation: number; chunk: Chunk }[];
}

export function stateFile(repo: Repo): string {
  return join(repo.stateDir, 'logs', 'state.json');
}

export async function loadLogState(repo: Repo): Promise<LogState> {
  try {
    const s = JSON.parse(await fsp.readFile(stateFile(repo), 'utf8')) as LogState;
    s.pendingChunks ??= [];
    return s;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { version: 1, files: {}, pendingChunks: [] };
    throw err;
  }
}

export async function saveLogState(repo: Repo, s: LogState): Promise<void> {
  await fsp.mkdir(join(repo.stateDir, 'logs'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(stateFile(repo), JSON.stringify(s) + '\n');
}
