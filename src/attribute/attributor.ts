import type { Actor } from '../record/commit/commit.js';
import { asList, asNumber, readConfig } from '../record/repo/settings.js';
import type { Change } from '../record/model/diff.js';
import { recordParts, type Part, type RecordResult } from '../record/snapshot.js';
import type { Repo } from '../record/repo/repo.js';
import { phase } from '../util/timing.js';
import { toBytes } from '../util/bytes.js';
import { hostName, userName } from '../util/accounts.js';
import { forgetOld, packageLine, readTransactions, type AptTransaction } from './apt.js';
import { keepArgv } from './argv-store.js';
import type { AuditFeed } from './audit-feed.js';
import { argvLine, redactArgv } from './redact.js';
import { split, type ActorInfo, type Group } from './split.js';

/** One commit of a window: the changed paths it takes, and whom to name. */
export interface PlannedCommit {
  paths: string[];
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

function nameOf(a: ActorInfo): string {
  return a.login ?? userName(a.uid) ?? `uid${a.uid}`;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function describeProc(a: ActorInfo): string {
  // An exe is a path anyone may choose: escaped as argv is, or a newline in it would forge
  // lines of the commit body.
  const argv = a.argv
    ? argvLine(redactArgv(a.argv)) + (a.argvTruncated ? ' …(cut at 128 bytes)' : '')
    : argvLine([a.exe]);
  const parent = a.parentExe
    ? `; parent ${a.ppid} ${argvLine(a.parentArgv ? redactArgv(a.parentArgv) : [a.parentExe])}`
    : `; parent ${a.ppid}`;
  return `pid ${a.pid} uid ${a.uid}${a.euid !== a.uid ? ` euid ${a.euid}` : ''} tty ${a.tty}: ${argv}${parent}`;
}

/** Author, trailers and body for a group: the login name as author, the rest as trailers. */
export function describe(g: Group): Omit<PlannedCommit, 'paths' | 'events'> {
  const names = uniq(g.actors.map(nameOf));
  // Two people in one commit: git has one author, so its name lists both.
  const actor: Actor =
    names.length === 1 ? { name: names[0]! } : { name: names.join(', '), email: `${names.join('+')}@${hostName()}` };
  const join = (xs: (string | number | undefined)[]) =>
    uniq(xs.filter((x) => x !== undefined && x !== '').map(String)).join(', ');
  const trailers: Record<string, string | undefined> = {
    'Trail-Actor': names.length > 1 ? `${names.join(' and ')} (changed the same paths in one window)` : undefined,
    'Trail-Login': join(g.actors.map((a) => (a.login ? `${a.login} (auid ${a.auid})` : 'none (no login session)'))),
    'Trail-Uid': join(g.actors.map((a) => (a.euid !== a.uid ? `${a.uid} (euid ${a.euid})` : a.uid))),
    'Trail-Exe': join(g.actors.map((a) => a.exe)),
    'Trail-Argv':
      uniq(g.actors.map((a) => (a.argv ? argvLine(redactArgv(a.argv)) + (a.argvTruncated ? ' …' : '') : '')))
        .filter(Boolean)
        .join(' ;; ') || undefined,
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

function aptDescription(
  tx: AptTransaction,
  actor: Actor,
  trailers: Record<string, string | undefined>,
  body: string[],
  setPrefix: (s: string) => void,
): void {
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
  body.unshift(
    `One apt transaction (pid ${tx.pid}${tx.command ? `: ${tx.command}` : ''}):`,
    ...pk.map((l) => `  ${l}`),
  );
  const first = tx.packages
    .slice(0, 3)
    .map((p) => (p.action === 'remove' ? `${p.name}` : `${p.name} ${p.to ?? ''}`.trim()));
  const verb = tx.packages.every((p) => p.action === 'remove')
    ? 'remove'
    : tx.packages.some((p) => p.action === 'upgrade')
      ? 'upgrade'
      : 'install';
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

  /** `changes`: what a scan that began at `scanStart` found changed in the window. */
  async plan(changes: Change[], scanStart: number): Promise<WindowPlan> {
    const changed = changes.map((c) => c.path);
    // The scan first, then the barrier: a change the scan saw was made before the barrier
    // was written, so its record is read by the time the barrier's is.
    phase('window: audit barrier');
    const view = await this.feed.window(this.name, scanStart);
    phase('window: attribution');
    if (!changed.length) return { commits: [], deferred: [] };
    const txs = await readTransactions(this.home).catch(() => []);
    await forgetOld(txs).catch(() => undefined);
    const s = split(toBytes(this.dir), changed, view.events, {
      degraded: view.degraded,
      apt: txs,
      lossAt: view.lossAt,
      registered: view.registered,
      rewritten: view.rewritten,
    });
    this.feed.hold(s.deferredEvents);
    const commits: PlannedCommit[] = s.groups.map((g) => ({ ...describe(g), paths: g.paths, events: g.events }));
    for (const u of [s.unknown, s.tainted, s.unreceived, s.rewritten]) {
      if (!u.paths.length) continue;
      commits.push({
        paths: u.paths,
        actor: UNKNOWN_ACTOR,
        trailers: {
          'Trail-Actor': `unknown (${u.reason})`,
          'Trail-Attribution': view.degraded || u !== s.unknown ? 'degraded' : 'linux audit',
        },
        body: [`Who made these changes is unknown: ${u.reason}.`],
        actors: [],
        events: [],
      });
    }
    const dirs = new Set(changes.filter((c) => c.after?.kind === 'dir').map((c) => c.path));
    return { commits: order(commits, dirs), deferred: s.deferred };
  }

  /** After a planned commit: its events are done, its full command lines kept locally. */
  async committed(repo: Repo, c: PlannedCommit, commit: string | undefined): Promise<void> {
    this.feed.consume(c.events);
    if (commit) await keepArgv(repo, commit, c.actors);
  }
}

/**
 * Each commit takes its own paths, so the state after each must hold together: a folder one
 * actor created goes before the files others wrote into it, and files others removed from a
 * folder go before its removal (or its turning into a file). `dirs`: the changed paths that
 * are folders now. A cycle (rare: each created a folder the other wrote into) becomes one
 * commit naming all of them.
 */
export function order(commits: PlannedCommit[], dirs: Set<string>): PlannedCommit[] {
  const under = (p: string, r: string) => (r === '' ? p !== '' : p.startsWith(r + '/'));
  const holdsUnder = (c: PlannedCommit, r: string) => c.paths.some((p) => under(p, r));
  // c waits for o: o makes (or keeps) a folder c's paths are in, or c removes a folder (or
  // replaces it with a file) that o's paths are in.
  const waits = (c: PlannedCommit, o: PlannedCommit) =>
    c !== o &&
    (o.paths.some((r) => dirs.has(r) && holdsUnder(c, r)) || c.paths.some((r) => !dirs.has(r) && holdsUnder(o, r)));
  const out: PlannedCommit[] = [];
  let left = [...commits];
  while (left.length) {
    const next = left.find((c) => !left.some((o) => waits(c, o)));
    if (next) {
      out.push(next);
      left = left.filter((c) => c !== next);
      continue;
    }
    const names = uniq(left.flatMap((c) => c.actor.name.split(', ')));
    out.push({
      paths: left.flatMap((c) => c.paths),
      actor: { name: names.join(', ') },
      trailers: {
        'Trail-Actor': `${names.join(' and ')} (nested changes in one window)`,
        'Trail-Attribution': 'linux audit',
      },
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
  /** Paths an apt transaction still running changed: looked at again once it ends. */
  deferred: string[];
  last?: RecordResult;
}

/**
 * A quiet window recorded as one commit per actor, from one scan: each commit holds what the
 * scan read of its actor's paths, so a write made after the scan is never committed under
 * the planned writer's name; its own event brings it, and its records, to the next window.
 * Only when trail stops (`final`) is what the plan leaves (an apt transaction's paths)
 * recorded at once, as unknown, so that nothing seen is left out. The caller holds the
 * repository's write lock.
 */
export async function recordAttributed(
  repo: Repo,
  attributor: Attributor,
  roots: string[],
  subject: (changes: Change[]) => string,
  final = false,
  /** Called after each commit (the daemon runs the policy there), with the lock still held. */
  onRecorded: (
    res: RecordResult,
    actor: Actor,
    trailers: Record<string, string | undefined>,
  ) => Promise<void> = async () => {},
  /** A `trail snapshot` the daemon was asked for: its action, and trailers on every commit
   * (who asked), beside what audit says of each commit's author. */
  how: { action?: 'watch' | 'snapshot'; trailers?: Record<string, string> } = {},
): Promise<AttributedResult> {
  const scanStart = Date.now();
  phase('window: scan');
  const out: AttributedResult = { commits: [], changes: [], deferred: [] };
  const planned = new Map<Part, PlannedCommit>();
  const results = await recordParts(
    repo,
    roots,
    async (changes) => {
      const plan = await attributor.plan(changes, scanStart);
      const parts: Part[] = plan.commits.map((c) => {
        const part: Part = {
          paths: c.paths,
          subject: (ch) => (c.subjectPrefix ?? '') + subject(ch),
          actor: c.actor,
          action: how.action ?? 'watch',
          body: c.body,
          trailers: { ...c.trailers, ...how.trailers },
        };
        planned.set(part, c);
        return part;
      });
      if (final && plan.deferred.length) {
        parts.push({
          paths: plan.deferred,
          subject,
          actor: UNKNOWN_ACTOR,
          action: how.action ?? 'watch',
          body: ['These changes were made while trail was stopping; no audit record was matched to them.'],
          trailers: {
            'Trail-Actor': 'unknown (changed while trail watch was stopping)',
            'Trail-Attribution': 'linux audit',
          },
        });
      } else out.deferred = plan.deferred;
      return parts;
    },
    async (res, part) => {
      phase('window: committed');
      const c = planned.get(part);
      if (c) await attributor.committed(repo, c, res.commit);
      await onRecorded(res, part.actor, part.trailers ?? {});
      phase('window: policy applied');
    },
  );
  for (const res of results) {
    if (res.commit) out.commits.push(res.commit);
    out.changes.push(...res.changes);
    out.last = res;
  }
  return out;
}
