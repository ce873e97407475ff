import type { Command } from 'commander';
import { drift } from '../record/snapshot.js';
import { interruptedRevert } from '../act/revert.js';
import { readLog } from '../record/commit/history.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { display } from '../util/bytes.js';
import { Exit } from '../util/errors.js';
import { changesJson, printChanges } from './changes.js';
import { plural, relativeTime, type Out } from './output.js';
import type { PublishStatus } from '../act/publish/publish-status.js';
import { trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_anchor = () => import('../anchor/index.js');
const lazy_publish = () => import('../act/publish/publish-status.js');

export function registerStatus(program: Command): void {
  program
    .command('status')
    .option('--full', 're-read every file instead of trusting unchanged stat data (an attacker can restore mtimes)')
    .description('what changed on disk since the last commit (exit 3 when something did)')
    .addHelpText('after', '\nExamples:\n  trail status\n  trail status --full --json')
    .action(async (opts: { full?: boolean }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const started = Date.now();
      // What only reads the trail is asked while the tree is scanned.
      const asides = Promise.all([
        interruptedRevert(repo),
        attributionState(repo),
        lazy_anchor().then((a) => a.unanchoredCommits(repo.gitDir)),
        // A remote set wrong is `trail remote`'s to report; status still answers.
        lazy_publish()
          .then((p) => p.readPublishStatusOf(repo))
          .catch(() => undefined),
      ]);
      asides.catch(() => {});
      const res = await drift(repo, {
        full: opts.full,
        changesOnly: true,
        onProgress: opts.full ? out.progress('checking') : undefined,
      });
      const [interrupted, attribution, anchoring, publish] = await asides;
      if (!res.changes.length)
        out.line(
          `${out.color.green('clean')}: ${repo.info.dir} matches the trail (${plural(res.scan.files, 'file')}${opts.full ? ', every byte checked' : ''})`,
        );
      else {
        out.line(
          `${plural(res.changes.length, 'change')} in ${repo.info.dir} since ${res.head?.slice(0, 12) ?? 'the start'}:`,
        );
        printChanges(out, res.changes);
      }
      for (const k of res.scan.skipped) out.warn(`skipped ${display(k.path)}: ${k.reason}`);
      if (interrupted) out.warn('a revert was interrupted; the next command that writes (trail snapshot) finishes it');
      if (attribution.degraded)
        out.warn(
          `attribution is degraded: the watcher's last commit names nobody (${attribution.reason}); see trail doctor`,
        );
      if (anchoring.count) {
        const since = new Date(anchoring.oldest! * 1000);
        out.line(
          out.color.dim(
            `${plural(anchoring.count, 'commit')} not anchored yet (oldest ${relativeTime(since)}); trail stamp anchors them`,
          ),
        );
      }
      if (publish) printPublish(out, publish);
      out.result({
        name: repo.info.name,
        dir: repo.info.dir,
        head: res.head ?? null,
        full: !!opts.full,
        clean: !res.changes.length,
        changes: changesJson(res.changes),
        skipped: res.scan.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
        files: res.scan.files,
        read: res.scan.read,
        seconds: (Date.now() - started) / 1000,
        attribution,
        anchoring: {
          unanchored: anchoring.count,
          oldest: anchoring.oldest ? new Date(anchoring.oldest * 1000).toISOString() : null,
        },
        publish: publish ?? null,
      });
      if (res.changes.length) process.exitCode = Exit.drift;
    });
}

/** The unpushed backlog and the publishing alarms (also used by trail doctor). */
export function printPublish(out: Out, p: PublishStatus, label = ''): void {
  const last = p.lastAttempt
    ? p.lastAttempt.ok
      ? `last push ${relativeTime(new Date(p.lastAttempt.time))}`
      : `last push failed ${relativeTime(new Date(p.lastAttempt.time))}: ${p.lastAttempt.error ?? 'refused'}`
    : 'not pushed yet';
  if (!p.backlog.commits) out.line(out.color.dim(`${label}published to ${p.remote}: up to date (${last})`));
  else {
    const text = `${label}${plural(p.backlog.commits, 'commit')} not pushed to ${p.remote} (oldest ${relativeTime(new Date(p.backlog.oldest!))}; ${last})`;
    if (p.backlog.overdue) out.warn(text);
    else out.line(text);
  }
  for (const a of p.alarms) out.warn(`ALARM: ${a.message}`);
  for (const w of p.waiting) out.warn(w.message);
}

/** Whether the watcher's most recent commit could name its author: read from the trail
 * itself (`Trail-Attribution`, `Trail-Actor` trailers), so it needs no state of its own. */
async function attributionState(repo: Repo): Promise<{ degraded: boolean; reason?: string; commit?: string }> {
  const recent = await readLog(repo, Refs.observed, { max: 50 });
  const last = recent.find((e) => e.trailers['Trail-Action'] === 'watch');
  if (!last) return { degraded: false };
  const degraded =
    last.trailers['Trail-Attribution'] === 'degraded' || (last.author === 'unknown' && !!last.trailers['Trail-Actor']);
  return degraded
    ? { degraded, reason: last.trailers['Trail-Actor'] ?? 'unknown actor', commit: last.commit }
    : { degraded: false, commit: last.commit };
}
