import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../../record/repo/repo.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { Exit, TrailError, errorCode } from '../../util/errors.js';
import { releaseLock, takeLock } from '../../util/lock-file.js';
import type { ReviewRemote } from '../review/remote.js';

/**
 * What the publisher remembers besides git's refs, small by design: the alarms (so that each
 * is alerted once, and `trail status` / `trail doctor`, other processes, can show them), the
 * refs waiting for `trail review sync`, and the last attempt. The queue itself is the refs
 * (see pushedRef): losing this file loses no commit, only the memory of what was alerted.
 */
export interface Alarm {
  /** The published ref concerned; `*` for the backlog alarm. */
  ref: string;
  /** non-fast-forward: the remote branch holds commits this host's does not descend from
   * (someone moved it, or the local one was rewound); refused: the remote refused the update
   * (GH013: a rule of the repository); backlog: commits wait longer than remote.alertAfterSeconds. */
  kind: 'non-fast-forward' | 'refused' | 'backlog';
  since: string;
  last: string;
  message: string;
  local?: string | null;
  remote?: string | null;
  /** Whether the alert went out (once per alarm; a cleared alarm that comes back alerts again). */
  alerted: boolean;
}

/** A published ref not pushed for a reason that is no alarm: GitHub's approved branch holds
 * merges this host has not applied yet (`trail review sync` applies or refuses them). */
export interface Waiting {
  ref: string;
  reason: 'review-sync';
  since: string;
  remote: string | null;
  message: string;
}

export interface PublishState {
  /** gitUrl and branch prefix the state is about: another remote starts afresh. */
  target: string;
  lastAttempt: { time: string; ok: boolean; error?: string; pushed?: string[] } | null;
  lastSuccess: string | null;
  alarms: Alarm[];
  waiting: Waiting[];
}

function file(repo: Repo): string {
  return join(repo.stateDir, 'publish.json');
}

export function targetOf(remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>): string {
  return `${remote.gitUrl} ${remote.prefix}`;
}

export async function loadPublishState(
  repo: Repo,
  remote: Pick<ReviewRemote, 'gitUrl' | 'prefix'>,
): Promise<PublishState> {
  const fresh: PublishState = {
    target: targetOf(remote),
    lastAttempt: null,
    lastSuccess: null,
    alarms: [],
    waiting: [],
  };
  try {
    const s = JSON.parse(await fsp.readFile(file(repo), 'utf8')) as Partial<PublishState>;
    if (s.target !== fresh.target) return fresh;
    return { ...fresh, ...s, alarms: s.alarms ?? [], waiting: s.waiting ?? [] };
  } catch (err) {
    // Unreadable (torn by a crash, edited): start afresh; the refs still hold the backlog.
    if (errorCode(err) === 'ENOENT' || err instanceof SyntaxError) return fresh;
    throw err;
  }
}

export async function savePublishState(repo: Repo, s: PublishState): Promise<void> {
  // Derived and rewritten on every attempt: no fsync (a torn file reads as fresh state).
  await writeFileAtomic(file(repo), JSON.stringify(s, null, 2) + '\n', { durable: false });
}

/**
 * One push, and one writer of publish.json, at a time per shadow repository
 * (`trail/publish.lock`, the writer lock's rules: util/lock-file.ts). trail watch's publisher
 * and a `trail push` (or `review`) run in separate processes: each read the state, pushed,
 * and wrote back what it had read, so one's alarm or its clearing was lost — alerted twice,
 * or an alarm that stood after it had cleared — and both moved the same pushed marks. Waits
 * `waitMs` for another push to end, then throws (Exit.busy).
 */
export async function withPublishLock<T>(repo: Repo, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = join(repo.stateDir, 'publish.lock');
  const body = await takeLock(lock, { purpose: 'push', since: new Date().toISOString() }, waitMs, (owner) => {
    const who = owner ? `process ${owner.pid} (since ${String(owner.since ?? '?')})` : 'another process';
    return new TrailError(`another push to the remote is running: ${who}`, Exit.busy, 'try again once it has ended');
  });
  try {
    return await fn();
  } finally {
    await releaseLock(lock, body);
  }
}
