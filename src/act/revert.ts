import { lstatSync, promises as fsp, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { display } from '../util/bytes.js';
import { errorCode } from '../util/errors.js';
import { invokingActor, type Actor } from '../record/commit/commit.js';
import { readState } from '../record/tree/tree-reader.js';
import type { Repo } from '../record/repo/repo.js';
import { writeFileAtomic } from '../util/atomic.js';
import { apply, inScope, keepUnrecorded, plan, type ApplyResult, type Plan } from '../record/restore.js';
import { abs } from '../record/scanner.js';
import { drift, record, type RecordResult } from '../record/snapshot.js';
import type { State } from '../record/model/state.js';
import { journalFile } from './revert-journal.js';

export { interruptedRevert } from './revert-journal.js';

/**
 * `trail revert`: a checkout of a recorded state onto the disk — content and metadata — with
 * a journal, so that a revert killed half way is finished by the next trail command. Rolling
 * forward is always possible: the target is in the repository, and the state on disk before
 * the revert was recorded first, so nothing is lost either way.
 */
interface Journal {
  target: string;
  paths: string[];
  by: string;
  pid: number;
  started: string;
  /** Why, when not a person's `trail revert` (a protect rule): subject and trailers. */
  subject?: string;
  trailers?: Record<string, string>;
  /** Recoveries started (recoverRevert): one that never ended was killed or crashed, maybe
   * by what it was doing. */
  recoveries?: number;
}

/** Recoveries a journal gets: one killed (a power cut) is tried again, not one more. */
const RECOVERIES = 2;

export interface RevertResult {
  target: string;
  before?: RecordResult;
  plan: Plan;
  applied?: ApplyResult;
  after?: RecordResult;
  /** Differences still left after the revert (what could not be restored). */
  left: string[];
}

/** Called with the write lock held. */
export async function revert(
  repo: Repo,
  target: string,
  paths: string[],
  opts: { dryRun?: boolean; actor?: Actor; subject?: string; trailers?: Record<string, string> } = {},
): Promise<RevertResult> {
  const actor = opts.actor ?? invokingActor();
  // The disk as it is now goes into the trail first: the revert must never lose a change.
  const before = opts.dryRun
    ? undefined
    : await record(repo, {
        subject: 'changes found before a revert',
        actor: { name: 'unknown' },
        action: 'snapshot',
        trailers: { 'Trail-Actor': 'unknown (found on disk before a revert)' },
      });
  // What that found is a change like any other: the policy acts on it (alerts, hooks, protect)
  // as after a snapshot. Without this, tampering with a protected file, swept in by an
  // unrelated revert, was never restored or alerted. (A protect restore it makes is itself
  // a revert: its own look finds nothing new, so this ends there.)
  let moved = false;
  if (before?.commit) {
    const { respond } = await import('./respond.js');
    moved = !!(await respond(repo, before, { name: 'unknown' }, 'snapshot'))?.restored.length;
  }
  // Looked at again when protect put something back meanwhile.
  const current = (moved ? undefined : before?.state) ?? (await drift(repo)).scan.state;
  const targetState = await readState(repo, target);
  const p = plan(current, targetState, inScope(paths));
  keepUnrecorded(repo.info.dir, current, p);
  if (opts.dryRun) return { target, plan: p, left: [] };
  const journal: Journal = {
    target,
    paths,
    by: actor.name,
    pid: process.pid,
    started: new Date().toISOString(),
    subject: opts.subject,
    trailers: opts.trailers,
  };
  await writeFileAtomic(journalFile(repo), JSON.stringify(journal, null, 2));
  let applied: ApplyResult;
  try {
    applied = await apply(repo, repo.info.dir, current, targetState, p);
  } catch (err) {
    // apply puts what fails per path in `cannot`; whatever else went wrong, what was done is
    // recorded and the journal goes, so that no later command trips over it.
    await finishRecord(repo, journal, actor, false);
    throw err;
  }
  const after = await finishRecord(repo, journal, actor, false);
  const left = plan(after.state, targetState, inScope(paths));
  return { target, before, plan: p, applied, after, left: describe(left, applied) };
}

async function finishRecord(repo: Repo, j: Journal, actor: Actor, recovered: boolean): Promise<RecordResult> {
  const what = j.paths.length ? j.paths.map(display).join(', ') : 'everything';
  const result = await record(repo, {
    subject: `${recovered ? 'finish interrupted ' : ''}${j.subject ?? `revert of ${what} to ${j.target.slice(0, 12)}`}`,
    actor,
    action: 'revert',
    allowEmpty: true,
    body: recovered ? [`A revert started by ${j.by} at ${j.started} was interrupted; trail finished it.`] : [],
    trailers: {
      'Trail-Reverted-To': j.target,
      'Trail-Paths': j.paths.length ? j.paths.map(display).join(' ') : undefined,
      ...j.trailers,
    },
  });
  await fsp.rm(journalFile(repo), { force: true });
  return result;
}

/** What is left, with why when the revert said (a path it could not write or remove). */
function describe(p: Plan, applied?: ApplyResult): string[] {
  const why = new Map(applied?.cannot.map((c) => [c.path, c.reason]));
  const as = (x: string, what: string) => `${display(x)}: ${what}${why.has(x) ? ` (${why.get(x)})` : ''}`;
  return [
    ...p.cannot.map((c) => `${display(c.path)}: ${c.reason}`),
    ...p.write.map((x) => as(x, 'still differs')),
    ...p.remove.map((x) => as(x, 'still present')),
    ...p.fixMeta.map((x) => as(x, 'metadata still differs')),
  ];
}

/** Removes the temp files (`.<12 hex>.trail-tmp`, see restore.ts) an interrupted revert
 * left in the watched folders: the ignore rules hide them from every scan. */
function removeTempFiles(root: string, state: State): void {
  for (const [path, e] of state) {
    if (e.meta.kind !== 'dir') continue;
    let names: string[];
    try {
      names = readdirSync(abs(root, path), { encoding: 'latin1' }) as unknown as string[];
    } catch {
      continue;
    }
    for (const name of names) {
      if (!/^\.[0-9a-f]{12}\.trail-tmp$/.test(name)) continue;
      const file = abs(root, path === '' ? name : `${path}/${name}`);
      if (!lstatSync(file, { throwIfNoEntry: false })?.isDirectory()) rmSync(file, { force: true });
    }
  }
}

/** Finishes a revert that was interrupted. Called with the write lock held; returns what to
 * tell the user, or undefined when there was nothing to do. It is tried once: whatever it
 * cannot do (or an error) is said, with how to finish by hand, and the journal goes either
 * way — a journal that failed again would stop every later writer, the watcher too. */
export async function recoverRevert(repo: Repo): Promise<string | undefined> {
  let j: Journal;
  try {
    j = JSON.parse(await fsp.readFile(journalFile(repo), 'utf8')) as Journal;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    // A journal that cannot be read was being written when the process died: the revert had
    // not started touching the disk yet.
    await fsp.rm(journalFile(repo), { force: true });
    return 'found an unreadable revert journal from an interrupted revert that had not started; removed it';
  }
  const what = `a revert to ${j.target.slice(0, 12)} that was interrupted (started by ${j.by} at ${j.started})`;
  const byHand = `to finish it by hand, deal with that and run: trail revert ${j.target.slice(0, 12)}${j.paths.map((p) => ' ' + JSON.stringify(display(p))).join('')}`;
  // A recovery that dies (kill -9, a crash it causes itself) would otherwise be started again
  // by every writer, the watcher's too, for good.
  const tried = j.recoveries ?? 0;
  if (tried >= RECOVERIES) {
    await fsp.rm(journalFile(repo), { force: true });
    return `gave up finishing ${what}: ${tried} attempts to finish it were started and none ended (killed or crashed); the disk is left as it is and the trail goes on recording it; ${byHand}`;
  }
  await writeFileAtomic(journalFile(repo), JSON.stringify({ ...j, recoveries: tried + 1 }, null, 2));
  try {
    const targetState = await readState(repo, j.target);
    const now = await record(repo, {
      subject: 'state found after an interrupted revert',
      actor: { name: 'unknown' },
      action: 'snapshot',
    });
    removeTempFiles(repo.info.dir, now.state);
    const p = plan(now.state, targetState, inScope(j.paths));
    keepUnrecorded(repo.info.dir, now.state, p);
    const applied = await apply(repo, repo.info.dir, now.state, targetState, p);
    const after = await finishRecord(repo, j, { name: j.by }, true);
    const left = describe(plan(after.state, targetState, inScope(j.paths)), applied);
    if (!left.length) return `finished ${what}`;
    return `finished ${what} as far as it could; still left: ${left.join('; ')}; ${byHand}`;
  } catch (err) {
    await fsp.rm(journalFile(repo), { force: true });
    return `gave up finishing ${what}: ${(err as Error).message}; the disk is left as it is and the trail goes on recording it; ${byHand}`;
  }
}
