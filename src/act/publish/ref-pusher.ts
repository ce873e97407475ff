import { hostName } from '../../util/accounts.js';
import type { Repo } from '../../record/repo/repo.js';
import { Exit, TrailError } from '../../util/errors.js';
import { REMOTE_APPROVED, remoteGit, scrub, type ReviewRemote } from '../review/remote.js';
import { advanceMark, readTips, type RefTips } from './backlog-counter.js';
import { loadPublishState, savePublishState, withPublishLock, type Alarm, type Waiting } from './publish-state.js';
import { assertPublishable, remoteRefOf } from './published-refs.js';

export type Level = 'debug' | 'info' | 'notice' | 'warning' | 'error';
/** The daemon's log (watch/log.ts Log.write has this shape); the CLI prints instead. */
export type PublishLog = (level: Level, event: string, msg: string, fields?: Record<string, unknown>) => void;
/** Sends one alert (the daemon: act/alert.ts sendAlert with the trail's policy). */
export type PublishAlert = (summary: string, event: Record<string, unknown>) => Promise<void>;

/** One line of `git push --porcelain`: "<flag>\t<from>:<to>\t<summary>". */
export interface PushResult {
  ref: string;
  remote: string;
  ok: boolean;
  /** git's word for what happened: "new", "up to date", "updated", "rejected (non-fast-forward)"… */
  status: string;
}

export function parsePorcelain(text: string): (PushResult & { summary: string })[] {
  const out: (PushResult & { summary: string })[] = [];
  for (const line of text.split('\n')) {
    const m = /^([ +\-*=!])\t([^:]*):([^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const flag = m[1]!;
    const summary = m[4]!;
    out.push({
      ref: m[2]!,
      remote: m[3]!,
      ok: flag !== '!',
      summary,
      status:
        flag === '='
          ? 'up to date'
          : flag === '*'
            ? 'new'
            : flag === '+'
              ? 'forced'
              : flag === '!'
                ? `rejected ${summary}`
                : 'updated',
    });
  }
  return out;
}

export interface RefOutcome extends PushResult {
  /** Branch name under trail/HOST/NAME/ (`notes` for the proofs' notes). */
  name: string;
  /** The commit offered. */
  tip: string;
  /** Why this ref itself was refused (not merely held back by --atomic). */
  refusal?: 'non-fast-forward' | 'refused';
}

export interface RoundOutcome {
  time: string;
  /** The remote answered (a refusal is an answer; down, a timeout or a 401 is not). */
  reached: boolean;
  error?: string;
  /** The last word on each ref offered. */
  refs: RefOutcome[];
  /** Alarms raised by this round (already alerted). */
  raised: Alarm[];
  /** Every alarm standing after this round. */
  alarms: Alarm[];
  waiting: Waiting[];
  /** `git push` runs this round took (1, or more when refused refs were left out and the
   * rest pushed again). */
  pushes: number;
  /** Refs left out this round because they stand refused and were not due for a retry. */
  skipped: string[];
  /** Reached, every ref offered accepted, none left out. */
  clean: boolean;
}

export interface RoundOptions {
  /** Offer every published ref, also those whose mark says the remote has them (trail push:
   * it reports each ref's state, and learns whether a refused one was fixed meanwhile). */
  all?: boolean;
  /** Left out (refused earlier, retried later). */
  skip?: ReadonlySet<string>;
  /** Offered even when unchanged (a refused ref whose retry is due). */
  include?: ReadonlySet<string>;
  timeoutMs?: number;
  /** How long another process's push is waited for (withPublishLock); 60 s by default. */
  lockWaitMs?: number;
  /** Abandons the round's git runs at once (trail watch stopping or reloading): what they
   * carried counts as not pushed, and the marks stay where they were. */
  signal?: AbortSignal;
  now?: () => number;
  log?: PublishLog;
  alert?: PublishAlert;
}

/** Remote messages worth quoting in an alarm: GitHub's rule violations (GH013) and hooks. */
function remoteWords(stderr: string, token: string): string {
  return scrub(
    stderr
      .split('\n')
      .map((l) => l.replace(/^remote:\s*/, '').trim())
      .filter((l) => /GH\d{3}|rule|protected|declined|refus/i.test(l))
      .slice(0, 4)
      .join(' '),
    token,
  );
}

/**
 * Whether GitHub's approved branch is this host's approved plus merges made on GitHub: its
 * first-parent chain down to the merge base with the local approved is merge commits only
 * (the shape of a pull request merged into it). That is the normal case that `trail review
 * sync` resolves (it checks each merge against the pull requests and their approvals, and
 * applies or refuses it), so it is no alarm here; anything else on approved is.
 */
export async function mergedOnGitHub(repo: Repo, local: string, remoteTip: string): Promise<boolean> {
  const mb = await repo.git(['merge-base', local, remoteTip], { okCodes: [0, 1] });
  const base = mb.stdout.toString().trim();
  if (mb.code !== 0 || !base || base === remoteTip) return false;
  const chain = (await repo.git(['rev-list', '--first-parent', '--parents', remoteTip, `^${base}`, '--'])).stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
  if (!chain.length) return false;
  if (!chain.every((c) => c.length >= 3)) return false;
  return chain[chain.length - 1]![1] === base;
}

/**
 * One publishing round: every published ref with something new (or all, for `trail push`)
 * in ONE `git push --atomic`, never forced, so that the remote sees a consistent set (a
 * checkpoint arrives with the heads it names) or nothing.
 *
 * --atomic makes one refused ref fail the whole push. A refused ref must not keep the others
 * on the host (an attacker who moves one remote branch would otherwise stop all publishing),
 * so the refs refused for their own sake are left out and the rest pushed again, atomically,
 * in the same round. The refused ones raise an alarm (alerted once) — except approved when
 * GitHub merely holds merges this host has not applied yet, which waits for review sync.
 *
 * Marks (refs/trail/pushed/…) move only for refs the remote accepted. Nothing here writes a
 * local published ref: the host's history stays as it is, whatever the remote holds.
 */
export function pushRound(
  repo: Repo,
  remote: ReviewRemote,
  token: string,
  opts: RoundOptions = {},
): Promise<RoundOutcome> {
  return withPublishLock(repo, opts.lockWaitMs ?? 60_000, () => roundHeld(repo, remote, token, opts));
}

async function roundHeld(repo: Repo, remote: ReviewRemote, token: string, opts: RoundOptions): Promise<RoundOutcome> {
  const now = opts.now ?? Date.now;
  const time = new Date(now()).toISOString();
  const log = opts.log ?? (() => {});
  const tips = await readTips(repo, remote);
  const skipped = tips.filter((t) => opts.skip?.has(t.name)).map((t) => t.name);
  let attempt = tips.filter(
    (t) => !opts.skip?.has(t.name) && (opts.all || opts.include?.has(t.name) || t.head !== t.pushed),
  );
  const results = new Map<string, RefOutcome>();
  const refused: RefTips[] = [];
  let reached = true;
  let error: string | undefined;
  let pushes = 0;
  let stderr = '';
  while (attempt.length) {
    for (const t of attempt) assertPublishable(t.local);
    // By commit id: the mark then names exactly what was pushed, even if the ref moves meanwhile.
    const specs = attempt.map((t) => `${t.head}:${remoteRefOf(t, remote)}`);
    if (specs.some((s) => s.startsWith('+'))) throw new Error('a published ref is never forced');
    let res;
    try {
      pushes++;
      res = await remoteGit(
        repo,
        remote,
        token,
        ['push', '--atomic', '--porcelain', '--no-verify', remote.gitUrl, ...specs],
        [0, 1],
        { timeoutMs: opts.timeoutMs, signal: opts.signal },
      );
    } catch (err) {
      reached = pushes > 1 && reached;
      error = (err as Error).message;
      break;
    }
    stderr += res.stderr;
    const lines = parsePorcelain(res.stdout.toString('utf8'));
    if (res.code !== 0 && !lines.length) {
      reached = false;
      error = scrub(`git push to ${remote.gitUrl} failed: ${res.stderr.trim().split('\n').slice(-3).join(' ')}`, token);
      break;
    }
    const byRemote = new Map(lines.map((l) => [l.remote, l]));
    const causes: RefTips[] = [];
    for (const t of attempt) {
      const dst = remoteRefOf(t, remote);
      const l = byRemote.get(dst);
      const ok = l ? l.ok : res.code === 0;
      const own = !ok && !!l && !/atomic/i.test(l.summary);
      results.set(t.name, {
        name: t.name,
        ref: t.local,
        remote: dst,
        tip: t.head,
        ok,
        status: l?.status ?? (ok ? 'updated' : 'rejected'),
        refusal: own
          ? /non-fast-forward|fetch first|stale info|already exists/.test(l!.summary)
            ? 'non-fast-forward'
            : 'refused'
          : undefined,
      });
      if (own) causes.push(t);
    }
    if (!causes.length) break;
    refused.push(...causes);
    attempt = attempt.filter((t) => !causes.includes(t));
  }

  for (const t of tips) {
    const r = results.get(t.name);
    if (r?.ok) await advanceMark(repo, remote, t.name, t.head, t.pushed);
  }

  // What the remote holds where it refused: for the alarm, and to tell a GitHub merge on
  // approved (fetched to the local-only REMOTE_APPROVED, as review sync does) from a rewrite.
  const remoteTips = new Map<string, string | null>();
  if (refused.length && !opts.signal?.aborted) {
    try {
      const ls = await remoteGit(
        repo,
        remote,
        token,
        ['ls-remote', remote.gitUrl, ...refused.map((t) => remoteRefOf(t, remote))],
        [0],
        { timeoutMs: opts.timeoutMs, signal: opts.signal },
      );
      for (const line of ls.stdout.toString().split('\n')) {
        const [oid, ref] = line.split('\t');
        if (oid && ref) remoteTips.set(ref, oid);
      }
    } catch {
      /* the alarm stands without the remote's id */
    }
  }
  const state = await loadPublishState(repo, remote);
  const raised: Alarm[] = [];
  const words = remoteWords(stderr, token);
  const where = `${remote.owner}/${remote.repo}`;
  for (const t of refused) {
    // Abandoned (trail watch stopping): a refusal judged without the remote's word would be a
    // false alarm (approved waiting for review sync looks like a rewrite); the next round asks.
    if (opts.signal?.aborted) break;
    const r = results.get(t.name)!;
    const dst = remoteRefOf(t, remote);
    const theirs = remoteTips.get(dst) ?? null;
    const branch = dst.replace(/^refs\/heads\//, '');
    if (t.name === 'approved' && r.refusal === 'non-fast-forward' && theirs) {
      let merged = false;
      try {
        await remoteGit(
          repo,
          remote,
          token,
          ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', remote.gitUrl, `+${dst}:${REMOTE_APPROVED}`],
          [0],
          { timeoutMs: opts.timeoutMs, signal: opts.signal },
        );
        merged = (await repo.readRef(REMOTE_APPROVED)) === theirs && (await mergedOnGitHub(repo, t.head, theirs));
      } catch {
        /* cannot tell: an alarm, below */
      }
      if (opts.signal?.aborted) break;
      if (merged) {
        const message = `${branch} on ${where} holds merges this host has not applied yet: trail review sync applies (or refuses) them`;
        const w = state.waiting.find((x) => x.ref === t.name);
        if (w) Object.assign(w, { remote: theirs, message });
        else {
          state.waiting.push({ ref: t.name, reason: 'review-sync', since: time, remote: theirs, message });
          log('notice', 'publish-waiting', message, { ref: t.name, remote: theirs });
        }
        continue;
      }
    }
    const kind = r.refusal ?? 'refused';
    const message =
      kind === 'non-fast-forward'
        ? `${branch} on ${where} is at ${theirs?.slice(0, 12) ?? 'a commit'}, which this host's ${t.name} (${t.head.slice(0, 12)}) does not descend from: someone moved the remote branch, or the local one was rewound. trail never forces it; the local history is intact and stays unpushed until this is resolved`
        : `${where} refused the push of ${branch} (${r.status.replace(/^rejected /, '')}${words ? `: ${words}` : ''}); trail never forces it; the local history is intact and stays unpushed until this is resolved`;
    const existing = state.alarms.find((a) => a.ref === t.name && a.kind === kind);
    if (existing) {
      Object.assign(existing, { last: time, message, local: t.head, remote: theirs });
      log('debug', 'publish-alarm', message, { ref: t.name, kind });
      continue;
    }
    const alarm: Alarm = {
      ref: t.name,
      kind,
      since: time,
      last: time,
      message,
      local: t.head,
      remote: theirs,
      alerted: false,
    };
    state.alarms.push(alarm);
    raised.push(alarm);
  }
  // An accepted ref clears what stood against it.
  for (const r of results.values()) {
    if (!r.ok) continue;
    const cleared = state.alarms.filter((a) => a.ref === r.name);
    for (const a of cleared) log('notice', 'publish-alarm-cleared', `${r.remote} pushed again: cleared "${a.message}"`);
    state.alarms = state.alarms.filter((a) => a.ref !== r.name);
    state.waiting = state.waiting.filter((w) => w.ref !== r.name);
  }
  const offered = [...results.values()];
  state.lastAttempt = {
    time,
    ok: reached && !error && offered.every((r) => r.ok),
    ...(error ? { error } : {}),
    pushed: offered.filter((r) => r.ok && r.status !== 'up to date').map((r) => r.name),
  };
  if (reached && !error) state.lastSuccess = time;
  // Alerted before the state is saved as alerted: a crash in between alerts twice, never never.
  for (const a of raised) {
    log('error', 'publish-alarm', a.message, { ref: a.ref, kind: a.kind, local: a.local, remote: a.remote });
    if (opts.alert) {
      try {
        await opts.alert(a.message, {
          event: 'publish-alarm',
          host: hostName(),
          trail: { name: repo.info.name, dir: repo.info.dir },
          remote: where,
          branch: remoteRefOf({ name: a.ref, local: '' }, remote),
          kind: a.kind,
          local: a.local,
          remoteTip: a.remote,
          message: a.message,
        });
      } catch {
        /* an alert channel down changes nothing: the alarm stands in the log and in status */
      }
    }
    a.alerted = true;
  }
  await savePublishState(repo, state);
  return {
    time,
    reached,
    error,
    refs: offered,
    raised,
    alarms: state.alarms,
    waiting: state.waiting,
    pushes,
    skipped,
    clean: reached && !error && !skipped.length && offered.every((r) => r.ok),
  };
}

/** For callers that need the push to have happened (`trail push`, review open and sync): the
 * remote could not be reached is an error, a refusal is a result. */
export function throwUnreached(o: RoundOutcome): RoundOutcome {
  if (!o.reached) throw new TrailError(o.error ?? 'git push failed', Exit.error);
  return o;
}
