import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import type { Response } from '../act/respond.js';
import type { SnapshotAnswer } from '../watch/query-server.js';
import { asSecretLine, asSecretsJson } from './as-secrets.js';
import type { Out } from './output.js';
import { pickWatched } from '../host/registry.js';
import { display } from '../util/bytes.js';
import { askWatcher } from './ask-watcher.js';
import { changesJson, printChanges } from './changes.js';
import { plural } from './output.js';
import { asWriter, commandContext, openTrail } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_respond = () => import('../act/respond.js');
const lazy_snapshot = () => import('../record/snapshot.js');

export function registerSnapshot(program: Command): void {
  program
    .command('snapshot')
    .option('-m, --message <msg>', 'why (goes into the commit)')
    .description('record now what changed since the last commit')
    .addHelpText('after', '\nExample:\n  trail snapshot -m "raised nginx worker count"')
    .action(async (opts: { message?: string }, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const actor = invokingActor();
      // A running `trail watch` commits what its events named, now, in this user's name
      // (README, "Watching"); without one, this command scans and commits itself.
      const asked = await askWatcher<SnapshotAnswer>((await pickWatched(g.name)).name, {
        op: 'snapshot',
        message: opts.message,
        actor,
      });
      const res = asked?.answer ?? (await snapshotHere(await openTrail(g), out, actor, opts.message));
      printSnapshot(out, res, asked ? { watcher: asked.pid } : 'scan');
    });
}

/** What `trail snapshot` prints. Also rendered by the daemon for the native front
 * (front-answers.ts): one function, so the two cannot differ. */
export function printSnapshot(out: Out, res: SnapshotAnswer, answeredBy: { watcher: number } | 'scan'): void {
  if (res.commit) {
    out.line(`recorded ${plural(res.changes.length, 'change')} as ${res.commit.slice(0, 12)}`);
    printChanges(out, res.changes, 50);
  } else out.line('nothing changed since the last commit');
  for (const k of res.skipped) out.warn(`skipped ${display(k.path)}: ${k.reason}`);
  if (res.policy) printResponse(out, res.policy);
  for (const p of res.digestOnly)
    out.warn(`${display(p)} is larger than snapshot.maxFileSize: recorded by digest only, its content is not kept`);
  for (const a of res.asSecrets ?? []) out.line(asSecretLine(a));
  out.result({
    commit: res.commit,
    parent: res.parent,
    changes: changesJson(res.changes),
    policy: res.policy,
    skipped: res.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
    digestOnly: res.digestOnly.map(display),
    asSecrets: asSecretsJson(res.asSecrets ?? []),
    answeredBy,
  });
}

/** The snapshot without a watcher: scan, commit, and let the policy act, as the one writer. */
async function snapshotHere(
  repo: Awaited<ReturnType<typeof openTrail>>,
  out: Out,
  actor: ReturnType<typeof invokingActor>,
  message: string | undefined,
): Promise<SnapshotAnswer> {
  return asWriter(repo, out, 'snapshot', async () => {
    const res = await (
      await lazy_snapshot()
    ).recordIfChanged(repo, {
      subject: message ?? `snapshot by ${actor.name}`,
      actor,
      action: 'snapshot',
      onProgress: out.progress('scanning'),
    });
    const policy = await (await lazy_respond()).respond(repo, res, { name: actor.name }, 'snapshot');
    return {
      commit: res.commit ?? null,
      parent: res.parent ?? null,
      changes: res.changes,
      policy: policy ?? null,
      skipped: res.scan.skipped,
      digestOnly: res.scan.digestOnly,
      asSecrets: res.scan.asSecrets,
    };
  });
}

/** What the policy did after a commit, in a few calm lines. */
export function printResponse(out: Out, r: Response): void {
  if (r.restored.length)
    out.line(
      `protect: restored ${r.restored.map(display).join(', ')} to approved${r.restoreCommit ? ` (${r.restoreCommit.slice(0, 12)})` : ''}`,
    );
  if (r.gaveUp.length)
    out.warn(
      `protect gave up on ${r.gaveUp.map(display).join(', ')}: restored too often, something keeps rewriting it (alerting instead)`,
    );
  for (const a of r.alerts) {
    out.line(`alert: ${a.summary}`);
    const w = a.result.webhook;
    if (w && !w.ok && !w.queued) out.warn(`webhook alert not sent: ${w.problem}`);
    else if (w && !w.ok)
      out.warn(`webhook alert not delivered yet (${w.problem ?? 'queued'}): it is sent again until it gets through`);
  }
  for (const h of r.hooks)
    if (!h.ok) out.warn(`hook ${h.hook} failed: ${h.problem}${h.stderr ? ` (${h.stderr.split('\n').pop()})` : ''}`);
}
