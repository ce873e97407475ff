import type { Command } from 'commander';
import { invokingActor } from '../record/commit.js';
import { record } from '../record/snapshot.js';
import { display } from '../util/bytes.js';
import { changesJson, printChanges } from './changes.js';
import { makeOut, plural } from './output.js';
import { asWriter, globals, openTrail } from './session.js';

export function registerSnapshot(program: Command): void {
  program
    .command('snapshot')
    .option('-m, --message <msg>', 'why (goes into the commit)')
    .description('record now what changed since the last commit')
    .addHelpText('after', '\nExample:\n  trail snapshot -m "raised nginx worker count"')
    .action(async (opts: { message?: string }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const repo = await openTrail(g);
      const actor = invokingActor();
      const res = await asWriter(repo, out, 'snapshot', () =>
        record(repo, { subject: opts.message ?? `snapshot by ${actor.name}`, actor, action: 'snapshot', onProgress: out.progress('scanning') }),
      );
      if (res.commit) {
        out.line(`recorded ${plural(res.changes.length, 'change')} as ${res.commit.slice(0, 12)}`);
        printChanges(out, res.changes, 50);
      } else out.line('nothing changed since the last commit');
      for (const k of res.scan.skipped) out.warn(`skipped ${display(k.path)}: ${k.reason}`);
      for (const p of res.scan.digestOnly) out.warn(`${display(p)} is larger than snapshot.maxFileSize: recorded by digest only, its content is not kept`);
      out.result({ commit: res.commit ?? null, parent: res.parent ?? null, changes: changesJson(res.changes), skipped: res.scan.skipped.map((k) => ({ path: display(k.path), reason: k.reason })), digestOnly: res.scan.digestOnly.map(display) });
    });
}
