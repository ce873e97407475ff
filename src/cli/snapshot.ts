import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import { record } from '../record/snapshot.js';
import type { Response } from '../act/respond.js';
import type { Out } from './output.js';
import { display } from '../util/bytes.js';
import { changesJson, printChanges } from './changes.js';
import { plural } from './output.js';
import { asWriter, trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_respond = () => import('../act/respond.js');

export function registerSnapshot(program: Command): void {
  program
    .command('snapshot')
    .option('-m, --message <msg>', 'why (goes into the commit)')
    .description('record now what changed since the last commit')
    .addHelpText('after', '\nExample:\n  trail snapshot -m "raised nginx worker count"')
    .action(async (opts: { message?: string }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const actor = invokingActor();
      const { res, response } = await asWriter(repo, out, 'snapshot', async () => {
        const res = await record(repo, {
          subject: opts.message ?? `snapshot by ${actor.name}`,
          actor,
          action: 'snapshot',
          onProgress: out.progress('scanning'),
        });
        return { res, response: await (await lazy_respond()).respond(repo, res, { name: actor.name }, 'snapshot') };
      });
      if (res.commit) {
        out.line(`recorded ${plural(res.changes.length, 'change')} as ${res.commit.slice(0, 12)}`);
        printChanges(out, res.changes, 50);
      } else out.line('nothing changed since the last commit');
      for (const k of res.scan.skipped) out.warn(`skipped ${display(k.path)}: ${k.reason}`);
      if (response) printResponse(out, response);
      for (const p of res.scan.digestOnly)
        out.warn(`${display(p)} is larger than snapshot.maxFileSize: recorded by digest only, its content is not kept`);
      out.result({
        commit: res.commit ?? null,
        parent: res.parent ?? null,
        changes: changesJson(res.changes),
        policy: response ?? null,
        skipped: res.scan.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
        digestOnly: res.scan.digestOnly.map(display),
      });
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
  for (const a of r.alerts) out.line(`alert: ${a.summary}`);
  for (const h of r.hooks)
    if (!h.ok) out.warn(`hook ${h.hook} failed: ${h.problem}${h.stderr ? ` (${h.stderr.split('\n').pop()})` : ''}`);
}
