import type { Command } from 'commander';
import type { StatusReport } from '../watch/status-report.js';
import { pickWatched } from '../host/registry.js';
import { display } from '../util/bytes.js';
import { Exit } from '../util/errors.js';
import { askWatcher } from './ask-watcher.js';
import { changesJson, printChanges } from './changes.js';
import { plural, relativeTime, type Out } from './output.js';
import type { PublishStatus } from '../act/publish/publish-status.js';
import { commandContext, openTrail } from './session.js';

// Only when no watcher answers: a status the watcher answers loads none of the scanner.
const lazy_report = () => import('../watch/status-report.js');

export function registerStatus(program: Command): void {
  program
    .command('status')
    .option('--full', 're-read every file instead of trusting unchanged stat data (an attacker can restore mtimes)')
    .description('what changed on disk since the last commit (exit 3 when something did)')
    .addHelpText('after', '\nExamples:\n  trail status\n  trail status --full --json')
    .action(async (opts: { full?: boolean }, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const watched = await pickWatched(g.name);
      // A running `trail watch` knows what changed from its events (README, "Watching");
      // --full re-reads every byte, which only a scan does.
      const asked = opts.full ? undefined : await askWatcher<StatusReport>(watched.name, { op: 'status' });
      const res =
        asked?.answer ??
        (await (
          await lazy_report()
        ).statusReport(await openTrail(g), {
          full: opts.full,
          onProgress: opts.full ? out.progress('checking') : undefined,
        }));
      process.exitCode = printStatus(out, res, { full: !!opts.full }, asked ? { watcher: asked.pid } : 'scan');
    });
}

/** What `trail status` prints, and its exit code (3 when something changed). Also rendered by
 * the daemon for the native front (front-answers.ts): one function, so the two cannot differ. */
export function printStatus(
  out: Out,
  res: StatusReport,
  how: { full: boolean },
  answeredBy: { watcher: number } | 'scan',
): number {
  if (!res.changes.length)
    out.line(
      `${out.color.green('clean')}: ${res.dir} matches the trail (${plural(res.files, 'file')}${how.full ? ', every byte checked' : ''})`,
    );
  else {
    out.line(`${plural(res.changes.length, 'change')} in ${res.dir} since ${res.head?.slice(0, 12) ?? 'the start'}:`);
    printChanges(out, res.changes);
  }
  for (const k of res.skipped) out.warn(`skipped ${display(k.path)}: ${k.reason}`);
  if (res.interrupted) out.warn('a revert was interrupted; the next command that writes (trail snapshot) finishes it');
  if (res.attribution.degraded)
    out.warn(
      `attribution is degraded: the watcher's last commit names nobody (${res.attribution.reason}); see trail doctor`,
    );
  if (res.anchoring.unanchored) {
    out.line(
      out.color.dim(
        `${plural(res.anchoring.unanchored, 'commit')} not anchored yet (oldest ${relativeTime(new Date(res.anchoring.oldest!))}); trail stamp anchors them`,
      ),
    );
  }
  if (res.publish) printPublish(out, res.publish);
  if (res.alerts?.waiting)
    out.warn(
      `${plural(res.alerts.waiting, 'webhook alert')} not delivered yet (oldest ${relativeTime(new Date(res.alerts.oldest!))}${res.alerts.lastProblem ? `; last try: ${res.alerts.lastProblem}` : ''}); trail watch, or the next alert, sends them again`,
    );
  out.result({
    name: res.name,
    dir: res.dir,
    head: res.head,
    full: res.full,
    clean: !res.changes.length,
    changes: changesJson(res.changes),
    skipped: res.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
    files: res.files,
    read: res.read,
    seconds: res.seconds,
    attribution: res.attribution,
    anchoring: res.anchoring,
    publish: res.publish,
    alerts: res.alerts,
    // Who answered: the running watcher (its pid), or this command's own scan.
    answeredBy,
  });
  return res.changes.length ? Exit.drift : Exit.ok;
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
