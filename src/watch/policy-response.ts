import type { Actor } from '../record/commit/commit.js';
import type { RecordResult } from '../record/snapshot.js';
import { respond } from '../act/respond.js';
import { display } from '../util/bytes.js';
import type { WatchContext } from './job.js';

/** The policy acts on each commit the watcher makes (protect, alert, hooks), inside the same
 * lock. A failure there is logged; the commit it followed is never lost. */
export async function applyPolicy(
  ctx: WatchContext,
  res: RecordResult,
  actor: Actor,
  trailers: Record<string, string | undefined>,
): Promise<void> {
  try {
    const r = await respond(ctx.repo, res, { name: actor.name, package: !!trailers['Trail-Packages'] }, 'watch');
    if (!r) return;
    if (r.restored.length)
      ctx.log('warning', 'protect', `restored ${r.restored.map(display).join(', ')} to approved`, {
        commit: r.restoreCommit,
      });
    if (r.gaveUp.length)
      ctx.log(
        'warning',
        'protect-gave-up',
        `gave up restoring ${r.gaveUp.map(display).join(', ')}: something keeps rewriting it`,
      );
    for (const a of r.alerts) ctx.log('warning', 'alert', a.summary);
    for (const h of r.hooks) if (!h.ok) ctx.log('error', 'hook-failed', `hook ${h.hook} failed: ${h.problem}`);
  } catch (err) {
    ctx.log(
      'error',
      'policy-failed',
      `the policy could not act on ${res.commit?.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
