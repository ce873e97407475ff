// `trail witness check`: one look at every repository, every host and watched name in it.
// Order matters for kill -9: fetch (refs move atomically), judge, keep every tip that is no
// longer on GitHub (refs/witness/kept, before anything forgets it), then write state.json
// atomically and record it. Killed anywhere, the next run starts from the last saved state
// and finds the same things again (same finding ids: nothing is reported twice).
import { readCredentialFile } from '../act/review/remote.js';
import { EsploraClient } from '../anchor/esplora-client.js';
import { Exit } from '../util/errors.js';
import { readActivity, type Activity } from './activity-reader.js';
import { activityFindings, ancestryFindings, lookAtBranch, type BranchLook, type Where } from './ancestry-checker.js';
import { summarizeChanges, type HostChanges } from './change-reader.js';
import { refreshDrift } from './drift-reader.js';
import { checkCheckpoints, headFinding } from './checkpoint-checker.js';
import { PUBLISHED_KINDS, type Kind } from './checkpoint-record.js';
import { iso, mergeFindings, openFindings, type Finding, type NewFinding } from './findings.js';
import { existing, isAncestor, newCommits, readObjects } from './git-reader.js';
import { GitHubClient } from './github-client.js';
import { fetchRepository, initMirror, keepTips, keptRef, seenRefs } from './mirror.js';
import { checkProofs, type ProofItem } from './proof-checker.js';
import { protectionFinding, protectionUnknown, refreshProtection } from './protection-checker.js';
import { fingerprint, checkCommitSignature, parseCommit, type ParsedCommit } from './signature-checker.js';
import { silenceGaps, silentNow, type Point } from './silence-checker.js';
import { anchorWitnessState, type AnchoringView } from './state-anchor.js';
import { StateDir, pinnedKey, sourceName, watchKey, type Source, type Watch, type WitnessState } from './state.js';
import { windowFindings, type Prior } from './window-checker.js';

/** `unknown`: a source could not be read, so nothing about its hosts was checked in this run:
 * never `clear` (a witness kept blind by a fetch that fails — a crafted object its fsck
 * refuses, a revoked token — would otherwise report all clear for ever). */
export const WITNESS_EXIT = {
  clear: Exit.ok,
  pending: Exit.pending,
  findings: Exit.tampered,
  unknown: Exit.untracked,
} as const;
export type CheckStatus = keyof typeof WITNESS_EXIT;

export interface HostView {
  repository: string;
  host: string;
  name: string;
  verdict: 'green' | 'amber' | 'red';
  lastCheckpoint?: {
    id: string;
    seq: number;
    reason: string;
    hostTime: string;
    arrivedBy: string;
    arrivalFrom: 'activity' | 'fetch';
  };
  key?: { fingerprint: string; how: 'pinned' | 'first-sight' };
  heads: Partial<Record<Kind, string>>;
  proofs: { pending: number; missing: number; anchored: number };
  protection?: Watch['protection'];
  /** observed ahead of approved: changes on the host nobody accepted yet */
  drift?: { commits: number; paths: number; files: string[]; since?: string };
  findings: string[];
}

export interface CheckResult {
  version: 1;
  status: CheckStatus;
  exitCode: number;
  checkedAt: string;
  stateDir: string;
  repositories: {
    repository: string;
    fetchedAt?: string;
    error?: string;
    activity: { available: boolean; reason?: string; events: number };
    hosts: number;
  }[];
  hosts: HostView[];
  findings: Finding[];
  new: string[];
  cleared: string[];
  happened: HostChanges[];
  /** milliseconds per phase of this run */
  timings: Record<string, number>;
  /** with --open-issues: what was done in the witness repository, or why not */
  issues?: IssueSync;
  /** the witness's own history (refs/witness/state) and its OpenTimestamps proofs */
  anchoring: AnchoringView;
}

/** What --open-issues did in one run; `error` when it stopped (the check's verdict stands). */
export interface IssueSync {
  repository: string;
  opened: number[];
  reopened: number[];
  closed: number[];
  error?: string;
}

export interface CheckOptions {
  stateDir?: string;
  /** Called with this run's new and cleared findings before the state is saved. */
  onFindings?: (state: WitnessState, fresh: Finding[], cleared: Finding[]) => Promise<IssueSync | void>;
  protection?: boolean;
}

export async function readSourceToken(s: Source): Promise<string | undefined> {
  if (s.tokenFile) return readCredentialFile(s.tokenFile, 'token');
  const env = process.env.GITHUB_TOKEN?.trim();
  return env || undefined;
}

interface SourceLook {
  src: Source;
  repository: string;
  fetchedAt: number;
  previousFetch?: number;
  gh: GitHubClient;
  events: Activity[];
  watches: Map<string, { where: Where; now: Partial<Record<Kind, string>> }>;
}

function hostVerdict(open: Finding[], pending: number, missing: number): HostView['verdict'] {
  if (open.some((f) => f.severity === 'finding')) return 'red';
  if (open.some((f) => f.severity === 'warning') || pending + missing > 0) return 'amber';
  return 'green';
}

export async function runCheck(opts: CheckOptions = {}): Promise<CheckResult> {
  const sd = new StateDir(opts.stateDir);
  const unlock = await sd.lock();
  try {
    return await check(sd, opts);
  } finally {
    await unlock();
  }
}

async function check(sd: StateDir, opts: CheckOptions): Promise<CheckResult> {
  const state = await sd.load();
  await initMirror(sd.mirror);
  const runStart = Date.now();
  // Where the time of a run goes, phase by phase (in --json: the benchmark reads it).
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (phase: string) => {
    const now = Date.now();
    timings[phase] = (timings[phase] ?? 0) + now - mark;
    mark = now;
  };
  const found: NewFinding[] = [];
  const looked = new Set<string>();
  const looks: SourceLook[] = [];
  const repoViews: CheckResult['repositories'] = [];

  // 1. Fetch every repository and read what GitHub says happened since the last look.
  for (const src of state.sources) {
    const repository = sourceName(src);
    let token: string | undefined;
    try {
      token = await readSourceToken(src);
      const fetchedAt = await fetchRepository(sd.mirror, repository, src.gitUrl, token);
      const gh = new GitHubClient(src.apiUrl, token);
      let events: Activity[] = [];
      try {
        const a = await readActivity(gh, repository, state.activity[repository]?.lastId);
        if (a.available) {
          events = a.events;
          state.activity[repository] = { available: true, ...(a.lastId !== undefined ? { lastId: a.lastId } : {}) };
          if (a.gap)
            found.push({
              key: `activity-gap|${repository}|${a.lastId ?? ''}`,
              kind: 'activity-gap',
              severity: 'finding',
              event: true,
              repository,
              commits: [],
              times: { lostBefore: a.gap.oldest },
              title: `GitHub's record of pushes to ${repository} has more since the last look than the witness reads: some were not seen`,
              message: `The witness read the newest ${a.gap.read} pushes and did not reach the last one it had seen: the pushes before ${a.gap.oldest} are lost to it for good. A force-push or a deletion among them would not be seen from GitHub's record (only where it rewrote history the witness had already fetched). Many pushes between two looks — a flood of branches — is how such a rewrite could be hidden: find out who pushed so much, and look at the repository's branches by hand.`,
            });
        } else state.activity[repository] = { ...state.activity[repository], available: false, reason: a.reason };
      } catch (err) {
        state.activity[repository] = {
          ...state.activity[repository],
          available: false,
          reason: (err as Error).message,
        };
      }
      const watches = new Map<string, { where: Where; now: Partial<Record<Kind, string>> }>();
      for (const r of await seenRefs(sd.mirror, repository)) {
        const k = watchKey(repository, r.host, r.name);
        const v = watches.get(k) ?? { where: { repository, host: r.host, name: r.name }, now: {} };
        v.now[r.kind] = r.id;
        watches.set(k, v);
      }
      for (const [k, w] of Object.entries(state.watches))
        if (w.repository === repository && !watches.has(k))
          watches.set(k, { where: { repository, host: w.host, name: w.name }, now: {} });
      const prevFetches = state.fetches[repository] ?? [];
      looks.push({
        src,
        repository,
        fetchedAt,
        ...(prevFetches.length ? { previousFetch: prevFetches[prevFetches.length - 1]! } : {}),
        gh,
        events,
        watches,
      });
      looked.add(repository);
      repoViews.push({
        repository,
        fetchedAt: iso(fetchedAt),
        activity: {
          available: state.activity[repository]!.available,
          ...(state.activity[repository]!.reason ? { reason: state.activity[repository]!.reason } : {}),
          events: events.length,
        },
        hosts: watches.size,
      });
    } catch (err) {
      const message = (err as Error).message;
      repoViews.push({ repository, error: message, activity: { available: false, events: 0 }, hosts: 0 });
      found.push({
        key: `unreachable|${repository}`,
        kind: 'source-unreachable',
        severity: 'warning',
        event: false,
        repository,
        commits: [],
        times: { tried: iso(Date.now()) },
        title: `the witness could not read ${repository}`,
        message: `${message}. Nothing about its hosts could be checked in this run, which is therefore not clear (exit 12); silence is measured again at the next look.`,
      });
    }
  }

  lap('fetch');
  // 2. Every new commit of the fleet, with its parents, in one walk.
  const tips: string[] = [];
  const stops: string[] = [];
  for (const l of looks)
    for (const [k, v] of l.watches) {
      tips.push(...(Object.values(v.now) as string[]));
      const w = state.watches[k];
      if (w) stops.push(...(Object.values(w.heads) as string[]));
    }
  const { graph, times: commitTimes } = await newCommits(sd.mirror, tips, stops);
  lap('walk');

  const toKeep: { ref: string; id: string }[] = [];
  const perWatch: {
    l: SourceLook;
    key: string;
    where: Where;
    watch: Watch;
    looks: Map<Kind, BranchLook>;
    chain: string[];
  }[] = [];
  const nowIso = iso(runStart);
  for (const l of looks) {
    for (const [key, v] of l.watches) {
      const watch: Watch = state.watches[key] ?? {
        repository: l.repository,
        host: v.where.host,
        name: v.where.name,
        heads: {},
        proofWaits: {},
        anchored: 0,
        firstSeen: nowIso,
      };
      state.watches[key] = watch;
      const bl = new Map<Kind, BranchLook>();
      for (const kind of PUBLISHED_KINDS) {
        const ref = `refs/heads/trail/${v.where.host}/${v.where.name}/${kind}`;
        const b = await lookAtBranch(sd.mirror, graph, ref, kind, watch.heads[kind], v.now[kind]);
        bl.set(kind, b);
        if (b.growth === 'rewritten' || b.growth === 'deleted') {
          toKeep.push({ ref: keptRef(l.repository, v.where.host, v.where.name, kind, b.old!), id: b.old! });
          found.push(
            ...ancestryFindings(
              v.where,
              b,
              { ...(l.previousFetch ? { lastLook: l.previousFetch } : {}), seenAt: l.fetchedAt },
              l.events,
            ),
          );
        }
      }
      // The checkpoint chain that arrived, oldest first (first parents from the new tip).
      const cp = bl.get('checkpoints')!;
      const chain: string[] = [];
      if (cp.now && cp.added.length) {
        const added = new Set(cp.added);
        let id: string | undefined = cp.now;
        while (id && added.has(id)) {
          chain.push(id);
          id = graph.get(id)?.[0];
        }
        chain.reverse();
      }
      perWatch.push({ l, key, where: v.where, watch, looks: bl, chain });
    }
  }
  for (const l of looks) {
    const befores = l.events
      .filter((e) => e.type === 'force_push' || e.type === 'branch_deletion')
      .map((e) => e.before);
    const have = await existing(sd.mirror, befores);
    // The ancestry check's finding for the same rewrite says more (the commits dropped).
    const keys = new Set(found.map((f) => f.key));
    found.push(...activityFindings(l.repository, l.events, new Set(have.keys())).filter((f) => !keys.has(f.key)));
  }

  lap('ancestry');
  // 3. The objects to read: checkpoints, the tips to verify, the changes on observed.
  const wanted = new Set<string>();
  for (const p of perWatch) {
    p.chain.forEach((id) => wanted.add(id));
    for (const k of ['observed', 'logs', 'access', 'proofs'] as Kind[]) {
      const b = p.looks.get(k)!;
      if (b.now && b.added.length) wanted.add(b.now);
    }
    p.looks.get('observed')!.added.forEach((id) => wanted.add(id));
  }
  const objects = await readObjects(sd.mirror, [...wanted]);
  const parsed = new Map<string, ParsedCommit>();
  const commitOf = (id: string) => {
    let c = parsed.get(id);
    if (!c) {
      const o = objects.get(id);
      if (!o || o.type !== 'commit') return undefined;
      c = parseCommit(id, o.data);
      parsed.set(id, c);
    }
    return c;
  };

  lap('read');
  // 4. Per host and name: checkpoints, windows, silence, heads, signatures.
  const uncertainHeads: {
    p: (typeof perWatch)[number];
    h: { kind: Kind; id: string; checkpoint: string; seq: number };
  }[] = [];
  const happened: HostChanges[] = [];
  for (const p of perWatch) {
    const { l, where, watch } = p;
    const cpRef = `refs/heads/trail/${where.host}/${where.name}/checkpoints`;
    const pinned = pinnedKey(state, where.host, where.name);
    if (pinned && (watch.key?.blob !== pinned || watch.key.how !== 'pinned'))
      watch.key = { blob: pinned, how: 'pinned', since: nowIso };
    const chain = p.chain.map(commitOf).filter((c): c is ParsedCommit => !!c);
    const res = checkCheckpoints(where, cpRef, chain, watch, pinned);
    found.push(...res.findings);
    if (res.firstSight && !pinned) watch.key = { blob: res.firstSight, how: 'first-sight', since: nowIso };

    // Signatures of the other branches' new tips (approved also holds GitHub's merges).
    if (watch.key)
      for (const k of ['observed', 'logs', 'access', 'proofs'] as Kind[]) {
        const b = p.looks.get(k)!;
        if (!b.now || !b.added.length) continue;
        const c = commitOf(b.now);
        if (!c) continue;
        const v = checkCommitSignature(c, watch.key.blob);
        if (!v.ok)
          found.push({
            key: `commitsig|${where.repository}|${b.ref}|${c.id}`,
            kind: 'commit-signature',
            severity: 'finding',
            event: true,
            ...where,
            ref: b.ref,
            commits: [c.id],
            times: { witnessSaw: iso(l.fetchedAt) },
            title: `the ${k} tip of ${where.host}/${where.name} is not signed by the host`,
            message: `${c.id}, the newest commit on ${b.ref}, does not verify against the host's key ${fingerprint(watch.key.blob)}: ${v.reason}. A commit the host did not make was published in its name.`,
          });
      }

    // Arrival of each new checkpoint: GitHub's push time where the activity has it.
    const idx = new Map(res.checked.map((c, i) => [c.commit.id, i]));
    const arrival: (number | undefined)[] = res.checked.map(() => undefined);
    for (const e of l.events) {
      if (e.ref !== cpRef || e.type === 'branch_deletion') continue;
      const i = idx.get(e.after);
      if (i === undefined) continue;
      for (let j = 0; j <= i; j++) if (arrival[j] === undefined) arrival[j] = e.time;
    }
    const points: Point[] = [];
    let prior: Prior | undefined;
    if (watch.checkpoint) {
      const c = watch.checkpoint;
      points.push({
        id: c.id,
        seq: c.seq,
        reason: c.reason,
        hostTime: Date.parse(c.time),
        arrival: c.arrival,
        ...(c.earliest !== undefined ? { earliest: c.earliest } : {}),
        arrivalFrom: c.arrivalFrom,
      });
      prior = { id: c.id, seq: c.seq, reason: c.reason, time: c.time, boot: c.boot, audit: c.audit };
    }
    res.checked.forEach((c, i) => {
      if (!c.accepted || !c.record) return;
      const r = c.record;
      found.push(...windowFindings(where, cpRef, prior, c.commit.id, r));
      const a = arrival[i];
      const pt: Point = {
        id: c.commit.id,
        seq: r.seq,
        reason: r.reason,
        hostTime: Date.parse(r.time),
        arrival: a ?? l.fetchedAt,
        ...(a === undefined && l.previousFetch !== undefined ? { earliest: l.previousFetch } : {}),
        arrivalFrom: a !== undefined ? 'activity' : 'fetch',
      };
      points.push(pt);
      prior = { id: c.commit.id, seq: r.seq, reason: r.reason, time: r.time, boot: r.boot, audit: r.audit };
      watch.checkpoint = {
        id: pt.id,
        seq: r.seq,
        reason: r.reason,
        time: r.time,
        boot: r.boot,
        audit: r.audit,
        arrival: pt.arrival,
        ...(pt.earliest !== undefined ? { earliest: pt.earliest } : {}),
        arrivalFrom: pt.arrivalFrom,
      };
    });
    found.push(...silenceGaps(where, cpRef, points, l.src.maxSilence));
    const newest = points[points.length - 1];
    if (newest) {
      const s = silentNow(where, cpRef, newest, l.src.maxSilence, runStart);
      if (s) found.push(s);
    } else if (Object.keys(watch.heads).length || Object.keys(l.watches.get(p.key)?.now ?? {}).length) {
      found.push({
        key: `nocheckpoints|${where.repository}|${where.host}/${where.name}`,
        kind: 'no-checkpoints',
        severity: 'warning',
        event: false,
        ...where,
        ref: cpRef,
        commits: [],
        times: { checkedAt: nowIso },
        title: `${where.host}/${where.name} publishes no valid checkpoints`,
        message: `There is no accepted signed checkpoint on ${cpRef}: whether the host is watched, and since when it is silent, cannot be told. Hosts need a trail version that writes checkpoints (README "Formats").`,
      });
    }
    if (watch.key?.how === 'first-sight')
      found.push({
        key: `firstsight|${where.repository}|${where.host}/${where.name}`,
        kind: 'key-first-sight',
        severity: 'warning',
        event: false,
        ...where,
        ref: cpRef,
        commits: [],
        times: { trustedSince: watch.key.since },
        title: `${where.host}/${where.name}: key ${fingerprint(watch.key.blob)} trusted on first sight`,
        message: `No key was pinned for ${where.host}; the witness trusts the key its first checkpoint was signed with (${fingerprint(watch.key.blob)}). Compare it with \`trail remote show\` on the host and pin it: trail witness trust ${where.host} FILE.`,
      });

    // Heads the accepted checkpoints name must be on GitHub, on their branches.
    for (const h of res.heads) {
      const b = p.looks.get(h.kind)!;
      if (h.id === b.now || h.id === b.old || b.added.includes(h.id)) continue;
      uncertainHeads.push({ p, h });
    }

    const obs = p.looks.get('observed')!;
    if (obs.added.length) {
      const commits = obs.added
        .map(commitOf)
        .filter((c): c is ParsedCommit => !!c)
        .map((c) => ({ id: c.id, author: c.author, message: c.message }));
      happened.push(summarizeChanges(where, commits));
    }
  }
  if (uncertainHeads.length) {
    const have = await existing(
      sd.mirror,
      uncertainHeads.map((u) => u.h.id),
    );
    for (const { p, h } of uncertainHeads) {
      const b = p.looks.get(h.kind)!;
      const present = have.has(h.id);
      if (present && b.now && (await isAncestor(sd.mirror, h.id, b.now))) continue;
      found.push(headFinding(p.where, h, b.ref, b.now, !present, p.l.fetchedAt));
    }
  }

  lap('checkpoints');
  // 5. Proofs, for the whole fleet at once.
  const explorers = new Map<string, EsploraClient>();
  const items: ProofItem[] = perWatch.map((p) => {
    const pr = p.looks.get('proofs')!;
    let explorer = explorers.get(p.l.src.esplora);
    if (!explorer) explorers.set(p.l.src.esplora, (explorer = new EsploraClient(p.l.src.esplora, 10_000)));
    const added: ProofItem['added'] = [];
    for (const [k, b] of p.looks)
      for (const id of b.added)
        added.push({ id, kind: k, arrival: Math.min(p.l.fetchedAt, commitTimes.get(id) ?? Infinity) });
    return {
      w: p.where,
      watch: p.watch,
      proofsRef: pr.ref,
      ...(pr.old ? { proofsOld: pr.old } : {}),
      ...(pr.now ? { proofsNow: pr.now } : {}),
      added,
      grace: p.l.src.proofGrace,
      explorer,
    };
  });
  const proofs = await checkProofs(sd.mirror, items, runStart);
  found.push(...proofs.findings);

  lap('proofs');
  // 6. Protection, once a day per branch.
  if (opts.protection !== false) {
    for (const p of perWatch) {
      const kinds = PUBLISHED_KINDS.filter((k) => p.looks.get(k)!.now);
      if (!kinds.length) continue;
      const unknown = await refreshProtection(p.l.gh, p.where, p.watch, kinds, runStart).catch(
        (err: Error) => err.message,
      );
      if (unknown) found.push(protectionUnknown(p.where, unknown));
      const f = protectionFinding(p.where, p.watch);
      if (f) found.push(f);
    }
  }

  lap('protection');
  // 7. Remember: keep what GitHub dropped, then move the accepted heads.
  await keepTips(sd.mirror, toKeep);
  for (const p of perWatch) {
    for (const [k, b] of p.looks) {
      if (b.now) p.watch.heads[k] = b.now;
      else delete p.watch.heads[k];
    }
  }
  for (const l of looks) {
    const f = (state.fetches[l.repository] ??= []);
    f.push(l.fetchedAt);
    if (f.length > 50) f.splice(0, f.length - 50);
  }
  for (const p of perWatch) await refreshDrift(sd.mirror, p.watch);
  const merged = mergeFindings(state.findings, found, nowIso, looked);
  state.findings = merged.all;
  state.runs++;
  state.lastRun = nowIso;
  const issues = opts.onFindings ? await opts.onFindings(state, merged.fresh, merged.cleared) : undefined;
  await sd.save(state);
  await sd.record(
    `witness run ${state.runs}: ${merged.fresh.length} new, ${merged.cleared.length} cleared, ${openFindings(state.findings).length} open`,
  );

  lap('save');
  // After the state is safe: anchoring can only add proofs, never change this run's verdict.
  const anchoring = await anchorWitnessState(sd.mirror, state);
  lap('anchor');
  const open = openFindings(state.findings);
  const hosts: HostView[] = perWatch.map((p) => {
    const mine = open.filter(
      (f) => f.repository === p.where.repository && f.host === p.where.host && f.name === p.where.name,
    );
    let pending = 0;
    let missing = 0;
    for (const w of Object.values(p.watch.proofWaits)) w.state === 'pending' ? pending++ : missing++;
    const c = p.watch.checkpoint;
    return {
      ...p.where,
      verdict: hostVerdict(mine, pending, missing),
      ...(c
        ? {
            lastCheckpoint: {
              id: c.id,
              seq: c.seq,
              reason: c.reason,
              hostTime: c.time,
              arrivedBy: iso(c.arrival),
              arrivalFrom: c.arrivalFrom,
            },
          }
        : {}),
      ...(p.watch.key ? { key: { fingerprint: fingerprint(p.watch.key.blob), how: p.watch.key.how } } : {}),
      heads: p.watch.heads,
      proofs: { pending, missing, anchored: p.watch.anchored },
      ...(p.watch.protection ? { protection: p.watch.protection } : {}),
      ...(p.watch.drift
        ? {
            drift: {
              commits: p.watch.drift.commits,
              paths: p.watch.drift.paths,
              files: p.watch.drift.files,
              ...(p.watch.drift.since ? { since: p.watch.drift.since } : {}),
            },
          }
        : {}),
      findings: mine.map((f) => f.id),
    };
  });
  const status: CheckStatus = open.some((f) => f.severity === 'finding')
    ? 'findings'
    : repoViews.some((r) => r.error !== undefined)
      ? 'unknown'
      : proofs.pending + proofs.missing > 0
        ? 'pending'
        : 'clear';
  return {
    version: 1,
    status,
    exitCode: WITNESS_EXIT[status],
    checkedAt: nowIso,
    stateDir: sd.dir,
    repositories: repoViews,
    hosts,
    findings: open,
    new: merged.fresh.map((f) => f.id),
    cleared: merged.cleared.map((f) => f.id),
    happened,
    timings,
    ...(issues ? { issues } : {}),
    anchoring,
  };
}
