import { display } from '../util/bytes.js';
import { hostName } from '../util/accounts.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import type { Change } from '../record/model/diff.js';
import type { Recorded } from '../record/snapshot.js';
import { decide, type ActorFacts, type Decision } from '../decide/evaluate.js';
import type { Policy, Rule } from '../decide/policy.js';
import { readPolicy } from '../decide/store.js';
import type { AlertResult } from './alert.js';
import type { HookResult } from './hooks.js';
import type { ReviewOutcome } from './review/after-commit.js';

/** What acts on a policy's decisions: loaded only when the policy has something to do (most
 * commits of most hosts have nothing; loading it all cost every snapshot's start). */
const agents = () =>
  Promise.all([
    import('./alert.js'),
    import('./hooks.js'),
    import('./protect.js'),
    import('./revert.js'),
    import('./review/after-commit.js'),
  ]);

/** Commits trail makes itself (restores, policy changes) never trigger its own rules. */
const OWN_ACTIONS = new Set(['revert', 'protect', 'policy', 'config', 'watch-start', 'watch-stop']);

export interface Response {
  decisions: { path: string; action: string; rule?: number }[];
  alerts: { summary: string; result: AlertResult }[];
  hooks: HookResult[];
  /** Paths put back to approved, and the commit that records it. */
  restored: string[];
  restoreCommit?: string;
  /** Paths protect gave up on (restored too often in the window). */
  gaveUp: string[];
  /** What protect's revert could not put back, each with why (revert's `left`). */
  notRestored?: string[];
  /** The pull request that review rules opened or updated (when a review remote is set). */
  review?: ReviewOutcome;
}

/**
 * After a commit: what the policy says about each change, and doing it — alert, run hooks,
 * protect (restore to approved and record that as its own commit). The caller holds the
 * repository's write lock.
 */
export async function respond(
  repo: Repo,
  result: Recorded,
  actor: ActorFacts,
  action: string,
  policy?: Policy,
): Promise<Response | undefined> {
  if (!result.commit || OWN_ACTIONS.has(action) || !result.changes.length) return undefined;
  policy ??= await readPolicy(repo);
  if (!policy.rules.length && policy.default === 'record') return undefined;
  const [{ sendAlert }, { runHook }, { admitRestores }, { revert }, { reviewAfterCommit }] = await agents();
  const decisions = result.changes.map((c) => decide(policy!, c, actor));
  const response: Response = {
    decisions: decisions.map((d) => ({
      path: display(d.change.path),
      action: d.action,
      ...(d.rule ? { rule: d.rule.index } : {}),
    })),
    alerts: [],
    hooks: [],
    restored: [],
    gaveUp: [],
  };
  const by = (a: string[]) => decisions.filter((d) => a.includes(d.action));
  const event = (kind: string, ds: Decision[], extra: Record<string, unknown> = {}) =>
    hookEvent(kind, repo, result, actor, ds, extra);

  const protect = by(['protect']);
  if (protect.length) {
    const approved = await repo.readRef(Refs.approved);
    const { restore, gaveUp } = await admitRestores(
      repo,
      protect.map((d) => d.change.path),
      policy.protect.maxRestores,
      policy.protect.windowSeconds,
    );
    if (approved && restore.length) {
      const rules = [...new Set(protect.filter((d) => restore.includes(d.change.path)).map((d) => d.rule?.index ?? 0))];
      const r = await revert(repo, approved, restore, {
        actor: { name: 'trail' },
        subject: `protect: restored ${restore.map(display).join(', ')} to approved`,
        trailers: {
          'Trail-Policy': `protect (rule ${rules.join(', ')})`,
          'Trail-Undid': result.commit,
          'Trail-Undid-Author': actor.name,
        },
      });
      // Only what the revert did put back is said restored: a folder swapped for a symlink, an
      // immutable file… leave a path as it is, and the alert must say so, not "restored".
      const left = new Set(r.left.map((l) => l.slice(0, l.indexOf(': '))));
      response.restored = restore.filter((x) => !left.has(display(x)));
      if (r.left.length) response.notRestored = r.left;
      response.restoreCommit = r.after?.commit;
    }
    response.gaveUp = gaveUp;
    const failed = response.notRestored ?? [];
    const summary = `${repo.info.name}: ${actor.name} changed protected ${list(protect)}; ${response.restored.length ? `restored to approved${response.restoreCommit ? ` (${response.restoreCommit.slice(0, 12)})` : ''}` : ''}${failed.length ? `${response.restored.length ? '; ' : ''}COULD NOT RESTORE ${failed.join('; ')}` : ''}${gaveUp.length ? `${response.restored.length || failed.length ? '; ' : ''}gave up restoring ${gaveUp.map(display).join(', ')}: restored ${policy.protect.maxRestores} times in ${policy.protect.windowSeconds}s, something keeps rewriting it` : ''}`;
    response.alerts.push({
      summary,
      result: await sendAlert(
        repo,
        policy,
        summary,
        event('protect', protect, {
          restored: response.restored.map(display),
          ...(failed.length ? { notRestored: failed } : {}),
          gaveUp: gaveUp.map(display),
          restoreCommit: response.restoreCommit,
        }),
      ),
    });
  }

  const review = by(['review']);
  if (review.length) response.review = await reviewAfterCommit(repo, policy);
  const reviewed = !!response.review && !response.review.error;
  const alert = by(reviewed ? ['alert'] : ['alert', 'review']);
  if (alert.length) {
    const failed = response.review?.error ? `; pull request not opened: ${response.review.error}` : '';
    const summary = `${repo.info.name}: ${actor.name} changed ${list(alert)} (commit ${result.commit.slice(0, 12)})${failed}`;
    response.alerts.push({ summary, result: await sendAlert(repo, policy, summary, event('alert', alert)) });
  }

  // Hooks: `run` rules, and any other rule that names a hook; one run per hook per commit.
  const withHook = decisions.filter((d) => d.rule?.hook && d.action !== 'ignore');
  const byHook = new Map<string, Decision[]>();
  for (const d of withHook) byHook.set(d.rule!.hook!, [...(byHook.get(d.rule!.hook!) ?? []), d]);
  for (const [hook, ds] of byHook)
    response.hooks.push(
      await runHook(
        hook,
        event(ds[0]!.action, ds, {
          restored: response.restored.map(display),
          ...(response.notRestored ? { notRestored: response.notRestored } : {}),
        }),
        policy.hooks.timeoutMs,
      ),
    );
  return response;
}

function list(ds: Decision[]): string {
  const names = ds.map((d) => display(d.change.path));
  return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
}

/** The event a hook (and a webhook) receives. Paths come escaped for reading and as exact
 * bytes (base64), so that a hostile name arrives intact and harmless. */
export function hookEvent(
  kind: string,
  repo: Repo,
  result: Recorded,
  actor: ActorFacts,
  ds: Decision[],
  extra: Record<string, unknown> = {},
) {
  const rules = new Map<number, Rule>();
  for (const d of ds) if (d.rule) rules.set(d.rule.index, d.rule);
  return {
    event: kind,
    time: new Date().toISOString(),
    host: hostName(),
    trail: { name: repo.info.name, dir: repo.info.dir },
    commit: result.commit,
    parent: result.parent ?? null,
    actor,
    rules: [...rules.values()].map((r) => ({
      index: r.index,
      line: r.line,
      name: r.name ?? null,
      action: r.action,
      paths: r.paths,
    })),
    changes: ds.map((d) => changeJson(d.change, d.rule)),
    ...extra,
  };
}

function changeJson(c: Change, rule?: Rule) {
  return {
    path: display(c.path),
    pathBase64: Buffer.from(c.path, 'latin1').toString('base64'),
    change: c.change,
    details: c.details,
    rule: rule?.index ?? null,
  };
}
