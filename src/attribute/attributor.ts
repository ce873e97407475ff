import type { Actor } from '../record/commit.js';
import { asList, asNumber, readConfig } from '../record/config.js';
import { diffStates, type Change } from '../record/diff.js';
import { record, type RecordResult } from '../record/snapshot.js';
import { HashOnlyWriter } from '../record/objects.js';
import { Refs, type Repo } from '../record/repo.js';
import { makeRules } from '../record/rules.js';
import { scan } from '../record/scan.js';
import { secretKey } from '../record/secrets.js';
import { loadCache } from '../record/statcache.js';
import type { State } from '../record/state.js';
import { insideAny } from '../record/roots.js';
import { phase } from '../record/timing.js';
import { toBytes } from '../util/bytes.js';
import { hostName, userName } from '../util/accounts.js';
import { forgetOld, packageLine, readTransactions, type AptTransaction } from './apt.js';
import { keepArgv } from './argv-store.js';
import type { AuditFeed } from './audit-feed.js';
import { argvLine, redactArgv } from './redact.js';
import { split, type ActorInfo, type Group } from './split.js';

/** One commit of a window: what to reconcile, and whom to name. */
export interface PlannedCommit {
  roots: string[];
  actor: Actor;
  trailers: Record<string, string | undefined>;
  body: string[];
  /** Put before the subject trail watch computes ("apt install hello 2.10: …"). */
  subjectPrefix?: string;
  actors: ActorInfo[];
  events: string[];
}

export interface WindowPlan {
  commits: PlannedCommit[];
  /** Paths to look at again later (an apt transaction still running). */
  deferred: string[];
}

export const UNKNOWN_ACTOR: Actor = { name: 'unknown' };

/** The changes under `roots`, hashed but not written: which paths a window changed. The
 * same reconcile record() does, so the split sees exactly what the commits will hold. */
export async function changedUnder(repo: Repo, roots: string[]): Promise<string[]> {
  const config = await readConfig(repo);
  const head = await repo.readRef(Refs.observed);
  const cached = await loadCache(repo, head);
  // Only what lies under the roots is looked at and compared: the rest of a 50k-file trail
  // is not copied, scanned or diffed for each window.
  const previous = within(cached.state, roots);
  const result = await scan({
    root: repo.info.dir,
    rules: makeRules(asList(config.ignore), asList(config.secrets)),
    previous,
    writer: new HashOnlyWriter(),
    secretKey: await secretKey(repo),
    maxFileSize: asNumber(config['snapshot.maxFileSize'], 128 << 20),
    roots,
  });
  return diffStates(previous, result.state).map((c) => c.path);
}

/** The entries of `state` under `roots`: looked up directly when every root is a file (one
 * write, the usual window), else one pass over the state. */
function within(state: State, roots: string[]): State {
  const out: State = new Map();
  if (roots.every((r) => r !== '' && state.get(r)?.meta.kind !== 'dir')) {
    for (const r of roots) {
      const e = state.get(r);
      if (e) out.set(r, e);
    }
    return out;
  }
  const inside = insideAny(roots);
  for (const [p, e] of state) if (inside(p)) out.set(p, e);
  return out;
}

function nameOf(a: ActorInfo): string {
  return a.login ?? userName(a.uid) ?? `uid${a.uid}`;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function describeProc(a: ActorInfo): string {
  const argv = a.argv ? argvLine(redactArgv(a.argv)) + (a.argvTruncated ? ' …(cut at 128 bytes)' : '') : a.exe;
  const parent = a.parentExe ? `; parent ${a.ppid} ${a.parentArgv ? argvLine(redactArgv(a.parentArgv)) : a.parentExe}` : `; parent ${a.ppid}`;
  return `pid ${a.pid} uid ${a.uid}${a.euid !== a.uid ? ` euid ${a.euid}` : ''} tty ${a.tty}: ${argv}${parent}`;
}

/** Author, trailers and body for a group: the login name as author, the rest as trailers. */
export function describe(g: Group): Omit<PlannedCommit, 'roots' | 'events'> {
  const names = uniq(g.actors.map(nameOf));
  // Two people in one commit: git has one author, so its name lists both.
  const actor: Actor = names.length === 1 ? { name: names[0]! } : { name: names.join(', '), email: `${names.join('+')}@${hostName()}` };
  const join = (xs: (string | number | undefined)[]) => uniq(xs.filter((x) => x !== undefined && x !== '').map(String)).join(', ');
  const trailers: Record<string, string | undefined> = {
    'Trail-Actor': names.length > 1 ? `${names.join(' and ')} (changed the same paths in one window)` : undefined,
    'Trail-Login': join(g.actors.map((a) => (a.login ? `${a.login} (auid ${a.auid})` : 'none (no login session)'))),
    'Trail-Uid': join(g.actors.map((a) => (a.euid !== a.uid ? `${a.uid} (euid ${a.euid})` : a.uid))),
    'Trail-Exe': join(g.actors.map((a) => a.exe)),
    'Trail-Argv': uniq(g.actors.map((a) => (a.argv ? argvLine(redactArgv(a.argv)) + (a.argvTruncated ? ' …' : '') : ''))).filter(Boolean).join(' ;; ') || undefined,
    'Trail-Pid': join(g.actors.map((a) => a.pid)),
    'Trail-Ppid': join(g.actors.map((a) => a.ppid)),
    'Trail-Parent': join(g.actors.map((a) => a.parentExe)),
    'Trail-Tty': join(g.actors.map((a) => a.tty)),
    'Trail-Session': join(g.actors.map((a) => a.ses)),
    'Trail-Attribution': 'linux audit',
  };
  const body = g.actors.length > 1 ? ['Processes:', ...g.actors.map((a) => `  ${nameOf(a)}: ${describeProc(a)}`)] : [];
  let subjectPrefix: string | undefined;
  if (g.apt) aptDescription(g.apt, actor, trailers, body, (s) => (subjectPrefix = s));
  return { actor, trailers, body, subjectPrefix, actors: g.actors };
}

function aptDescription(tx: AptTransaction, actor: Actor, trailers: Record<string, string | undefined>, body: string[], setPrefix: (s: string) => void): void {
  // The person who ran apt: its login uid, else the sudo caller; the writers are dpkg & co.
  const who = tx.login ?? tx.sudoUser;
  if (who) {
    actor.name = who;
    delete actor.email;
  }
  const pk = tx.packages.map(packageLine);
  trailers['Trail-Packages'] = pk.join(', ') || undefined;
  trailers['Trail-Apt-Pid'] = String(tx.pid);
  trailers['Trail-Apt-Command'] = tx.command ? argvLine(redactArgv(tx.command.split(' '))) : undefined;
  body.unshift(`One apt transaction (pid ${tx.pid}${tx.command ? `: ${tx.command}` : ''}):`, ...pk.map((l) => `  ${l}`));
  const first = tx.packages.slice(0, 3).map((p) => (p.action === 'remove' ? `${p.name}` : `${p.name} ${p.to ?? ''}`.trim()));
  const verb = tx.packages.every((p) => p.action === 'remove') ? 'remove' : tx.packages.some((p) => p.action === 'upgrade') ? 'upgrade' : 'install';
  setPrefix(`apt ${verb} ${first.join(', ')}${tx.packages.length > 3 ? ', …' : ''}: `);
}

/**
 * Attribution for one watched directory: turns a quiet window (the paths the event source
 * reported) into commits, one per actor, from the audit events of the window.
 */
export class Attributor {
  constructor(
    private readonly feed: AuditFeed,
    private readonly name: string,
    private readonly dir: string,
    private readonly home: string,
  ) {}

  async plan(repo: Repo, roots: string[]): Promise<WindowPlan> {
    // Reconcile first, then the barrier: a change the scan saw was made before the barrier
    // was written, so its record is read by the time the barrier's is.
    const scanStart = Date.now();
    phase('window: reconcile');
    const changed = await changedUnder(repo, roots);
    phase('window: audit barrier');
    const view = await this.feed.window(this.name, scanStart);
    phase('window: attribution');
    if (!changed.length) return { commits: [], deferred: [] };
    const txs = await readTransactions(this.home).catch(() => []);
    await forgetOld(txs).catch(() => undefined);
    const s = split(toBytes(this.dir), changed, view.events, { degraded: view.degraded, apt: txs, lossAt: view.lossAt });
    this.feed.hold(s.deferredEvents);
    const commits: PlannedCommit[] = s.groups.map((g) => ({ ...describe(g), roots: g.paths, events: g.events }));
    for (const u of [s.unknown, s.tainted]) {
      if (!u.paths.length) continue;
      commits.push({
        roots: u.paths,
        actor: UNKNOWN_ACTOR,
        trailers: { 'Trail-Actor': `unknown (${u.reason})`, 'Trail-Attribution': view.degraded || u === s.tainted ? 'degraded' : 'linux audit' },
        body: [`Who made these changes is unknown: ${u.reason}.`],
        actors: [],
        events: [],
      });
    }
    return { commits: order(commits), deferred: s.deferred };
  }

  /** After a planned commit: its events are done, its full command lines kept locally. */
  async committed(repo: Repo, c: PlannedCommit, commit: string | undefined): Promise<void> {
    this.feed.consume(c.events);
    if (commit) await keepArgv(repo, commit, c.actors);
  }
}

/**
 * record() reconciles everything under a root. A folder one actor created holds files
 * others wrote; committing the folder first would sweep their files into its commit. So a
 * commit whose root is above another commit's path goes after it; a cycle (rare: each
 * created a folder the other wrote into) becomes one commit naming all of them.
 */
export function order(commits: PlannedCommit[]): PlannedCommit[] {
  const above = (a: PlannedCommit, b: PlannedCommit) => a !== b && a.roots.some((r) => b.roots.some((p) => r === '' ? p !== '' : p.startsWith(r + '/')));
  const out: PlannedCommit[] = [];
  let left = [...commits];
  while (left.length) {
    const next = left.find((c) => !left.some((o) => above(c, o)));
    if (next) {
      out.push(next);
      left = left.filter((c) => c !== next);
      continue;
    }
    const names = uniq(left.flatMap((c) => c.actor.name.split(', ')));
    out.push({
      roots: left.flatMap((c) => c.roots),
      actor: { name: names.join(', ') },
      trailers: { 'Trail-Actor': `${names.join(' and ')} (nested changes in one window)`, 'Trail-Attribution': 'linux audit' },
      body: left.flatMap((c) => c.body),
      actors: left.flatMap((c) => c.actors),
      events: left.flatMap((c) => c.events),
    });
    left = [];
  }
  return out;
}

export interface AttributedResult {
  commits: string[];
  changes: Change[];
  /** Roots to look at again in a later window: changes made while this one was being
   * recorded have records that arrive after its barrier, and get their names there. */
  again: string[];
  /** An apt transaction is still running under these roots. */
  deferred: boolean;
  last?: RecordResult;
}

/**
 * A quiet window recorded as one commit per actor. What changed after the plan was made is
 * left for the next window (whose barrier brings its records), not recorded as unknown:
 * measured in a burst of 9,000 writes, a catch-all commit here named "unknown" for 700 of
 * them. Only when trail stops (`final`) is the rest recorded at once, as unknown, so that
 * nothing seen is left out. The caller holds the repository's write lock.
 */
export async function recordAttributed(
  repo: Repo,
  attributor: Attributor,
  roots: string[],
  subject: (changes: Change[]) => string,
  final = false,
  /** Called after each commit (the daemon runs the policy there), with the lock still held. */
  onRecorded: (res: RecordResult, actor: Actor, trailers: Record<string, string | undefined>) => Promise<void> = async () => {},
): Promise<AttributedResult> {
  const plan = await attributor.plan(repo, roots);
  const out: AttributedResult = { commits: [], changes: [], again: [], deferred: plan.deferred.length > 0 };
  for (const c of plan.commits) {
    const res = await record(repo, {
      subject: (ch) => (c.subjectPrefix ?? '') + subject(ch),
      actor: c.actor,
      action: 'watch',
      roots: c.roots,
      body: c.body,
      trailers: c.trailers,
    });
    phase('window: committed');
    await attributor.committed(repo, c, res.commit);
    await onRecorded(res, c.actor, c.trailers ?? {});
    phase('window: policy applied');
    if (res.commit) out.commits.push(res.commit);
    out.changes.push(...res.changes);
    out.last = res;
  }
  if (!final) {
    if (plan.commits.length || out.deferred) out.again = roots;
    return out;
  }
  const rest = await record(repo, {
    subject,
    actor: UNKNOWN_ACTOR,
    action: 'watch',
    roots,
    body: ['These changes were made while trail was stopping; no audit record was matched to them.'],
    trailers: { 'Trail-Actor': 'unknown (changed while trail watch was stopping)', 'Trail-Attribution': 'linux audit' },
  });
  await onRecorded(rest, UNKNOWN_ACTOR, {});
  if (rest.commit) out.commits.push(rest.commit);
  out.changes.push(...rest.changes);
  out.last = rest;
  return out;
}
