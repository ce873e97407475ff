import { lstatSync } from 'node:fs';
import type { Command } from 'commander';
import { revert } from '../act/revert.js';
import { invokingActor } from '../record/commit/commit.js';
import type { SnapshotAnswer } from '../watch/query-server.js';
import type { Repo } from '../record/repo/repo.js';
import { abs } from '../record/scanner.js';
import { readState } from '../record/tree/tree-reader.js';
import { display } from '../util/bytes.js';
import { TrailError, Exit } from '../util/errors.js';
import { changesJson } from './changes.js';
import { plural } from './output.js';
import { watchedPath } from './paths.js';
import { askWatcher } from './ask-watcher.js';
import { asWriter, commandContext, openTrail } from './session.js';

export function registerRevert(program: Command): void {
  program
    .command('revert')
    .argument('[rev]', 'the revision to go back to (a commit, approved, observed~2…)')
    .argument('[paths...]', 'only these paths (default: the whole directory)')
    .option('--dry-run', 'show what would change, change nothing')
    .option('--approved', 'go back to the accepted baseline (the same as REV = approved)')
    .description(
      'make the directory (or some paths) exactly as it was at a revision: content, owner, mode, links, xattrs',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  trail revert --approved ssh/sshd_config\n  trail revert approved --dry-run\n  trail revert 3f2a9c1e ssh/sshd_config\n  trail revert observed~1',
    )
    .action(
      async (
        revArg: string | undefined,
        pathArgs: string[],
        opts: { dryRun?: boolean; approved?: boolean },
        cmd: Command,
      ) => {
        const { g, out } = commandContext(cmd);
        // With --approved every argument is a path.
        const rev = opts.approved ? 'approved' : revArg;
        const paths = opts.approved && revArg !== undefined ? [revArg, ...pathArgs] : pathArgs;
        if (rev === undefined) throw new TrailError('say which revision to go back to, or --approved', Exit.usage);
        const repo = await openTrail(g);
        const rel = paths.map((p) => watchedPath(repo.info.dir, p));
        let target = '';
        // With trail watch running and audit in use, what its events named is committed first,
        // by it, as its window would: who changed those files is named, where the revert's own
        // look below can only say "unknown". Asked before the lock, which the daemon takes.
        const first = opts.dryRun
          ? undefined
          : await askWatcher<SnapshotAnswer>(repo.info.name, {
              op: 'snapshot',
              message: 'changes found before a revert',
              actor: invokingActor(),
              onlyAttributed: true,
            });
        const res = await asWriter(repo, out, 'revert', async () => {
          // Resolved under the lock, after any interrupted revert was finished.
          target = await repo.resolve(rev);
          await checkPaths(repo, target, paths, rel);
          return revert(repo, target, rel, { dryRun: opts.dryRun });
        });
        const p = res.plan;
        const n = p.remove.length + p.write.length + p.fixMeta.length;
        if (opts.dryRun) {
          out.line(
            n
              ? `reverting to ${target.slice(0, 12)} would change ${plural(n, 'path')}:`
              : `nothing to do: already as at ${target.slice(0, 12)}`,
          );
          for (const x of p.remove) out.line(`  remove   ${display(x)}`);
          for (const x of p.write) out.line(`  write    ${display(x)}`);
          for (const x of p.fixMeta) out.line(`  metadata ${display(x)}`);
        } else {
          if (first?.answer.commit)
            out.line(
              `trail watch recorded the pending changes first as ${first.answer.commit.slice(0, 12)} (authors from audit)`,
            );
          if (res.before?.commit)
            out.line(`recorded the changes found on disk first as ${res.before.commit.slice(0, 12)}`);
          const a = res.applied!;
          out.line(
            `reverted to ${target.slice(0, 12)}: ${a.written} written, ${a.removed} removed, ${a.metaFixed} metadata fixed; recorded as ${res.after?.commit?.slice(0, 12)}`,
          );
        }
        for (const c of p.cannot) out.warn(`cannot restore ${display(c.path)}: ${c.reason}`);
        for (const l of res.left) out.warn(`after the revert: ${l}`);
        out.result({
          target,
          dryRun: !!opts.dryRun,
          plan: {
            remove: p.remove.map(display),
            write: p.write.map(display),
            metadata: p.fixMeta.map(display),
            cannot: p.cannot.map((c) => ({ path: display(c.path), reason: c.reason })),
          },
          before: res.before?.commit ?? first?.answer.commit ?? null,
          commit: res.after?.commit ?? null,
          changes: res.after ? changesJson(res.after.changes) : [],
          left: res.left,
        });
        if (res.left.length) process.exitCode = 1;
      },
    );
}

/** A PATH that names nothing, neither at the revision nor on disk, is a mistake (a typo): a
 * usage error that names it, not a revert with nothing to do. */
async function checkPaths(repo: Repo, target: string, args: string[], rel: string[]): Promise<void> {
  if (!rel.length) return;
  const state = await readState(repo, target);
  const missing = args.filter(
    (_, i) => !state.has(rel[i]!) && !lstatSync(abs(repo.info.dir, rel[i]!), { throwIfNoEntry: false }),
  );
  if (missing.length)
    throw new TrailError(
      `${missing.join(', ')}: neither in ${target.slice(0, 12)} nor on disk (nothing to revert there)`,
      Exit.usage,
    );
}
