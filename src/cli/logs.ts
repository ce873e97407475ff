import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import type { Incident, VerifyEntry } from '../logs/index.js';
import { display } from '../util/bytes.js';
import { Exit } from '../util/errors.js';
import type { Out } from './output.js';
import { asWriter, trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_logs = () => import('../logs/index.js');
const lazy_logAlert = () => import('../act/log-alert.js');

function printIncident(out: Out, i: Incident, prefix: string): void {
  out.line(`${prefix}${out.color.red(i.kind)} ${i.summary}`);
  out.line(
    `${prefix}  found ${i.detected}; last seen intact ${i.lastIntact}${i.commit ? `; recorded in ${i.commit.slice(0, 12)}` : ''}`,
  );
}

export function registerLogs(program: Command): void {
  const logs = program
    .command('logs')
    .description('append-only logs: proof that tracked logs were only appended to (verify, status, checkpoint)')
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail config set logs.paths "auth.log,syslog,**/*.log"\n  trail logs status\n  trail logs verify auth.log',
    );

  logs
    .command('verify [path]')
    .description(
      're-read each tracked log against its recorded state: "intact since" or where and when it diverged (exit 11 when any did, 12 when a configured log is not tracked yet)',
    )
    .addHelpText('after', '\nExamples:\n  trail logs verify\n  trail logs verify auth.log --json')
    .action(async (path: string | undefined, _o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const entries = await (await lazy_logs()).verifyLogs(repo, path);
      let bad = false;
      for (const e of entries) {
        bad ||= printEntry(out, e);
      }
      if (!entries.length) out.line('no tracked logs (set logs.paths, or a policy rule with action: log)');
      out.result({ logs: entries });
      // Tampering outranks "not tracked yet"; neither is ever 0.
      if (bad) process.exitCode = Exit.tampered;
      else if (entries.some((e) => e.status === 'untracked')) process.exitCode = Exit.untracked;
    });

  logs
    .command('status')
    .description('the tracked logs: generation, bytes verified, since when, rotated copies followed')
    .addHelpText('after', '\nExamples:\n  trail logs status\n  trail logs status --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const { state, tracked } = await (await lazy_logs()).logsStatus(repo);
      const rows = tracked.map((p) => {
        const f = state.files[p];
        const c = f?.current;
        return {
          path: p,
          tracked: !!f,
          generation: c?.n ?? null,
          inode: c?.ino ?? null,
          verifiedLength: c?.length ?? null,
          sha256: c?.sha256 ?? null,
          since: c?.since ?? null,
          lastSeen: c?.lastSeen ?? null,
          rotated: (f?.rotated ?? []).map((r) => ({ generation: r.n, location: r.location, length: r.length })),
          incidents: f?.incidents.length ?? 0,
        };
      });
      for (const r of rows) {
        if (!r.tracked) {
          out.line(
            `${display(r.path)}: not tracked yet (trail watch takes it in when it starts or sees it; now: sudo trail logs checkpoint)`,
          );
          continue;
        }
        out.line(
          `${display(r.path)}: ${r.generation === null ? 'no current file' : `generation ${r.generation}, ${r.verifiedLength} bytes verified, since ${r.since}, last seen ${r.lastSeen}`}${r.incidents ? out.color.red(`, ${r.incidents} incident(s)`) : ''}`,
        );
        for (const x of r.rotated)
          out.line(`  following generation ${x.generation} in ${display(x.location)} (${x.length} bytes)`);
      }
      if (!rows.length) out.line('no tracked logs (set logs.paths, or a policy rule with action: log)');
      out.line(
        state.lastCheckpoint
          ? `last checkpoint ${state.lastCheckpoint.commit.slice(0, 12)} at ${state.lastCheckpoint.time}`
          : 'no checkpoint yet',
      );
      out.result({ logs: rows, lastCheckpoint: state.lastCheckpoint ?? null });
    });

  logs
    .command('checkpoint')
    .description(
      'check the tracked logs now and commit their state to refs/trail/logs (trail watch does this every logs.checkpointSeconds)',
    )
    .addHelpText('after', '\nExamples:\n  sudo trail logs checkpoint\n  sudo trail logs checkpoint --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const checked = await asWriter(repo, out, 'logs', async () =>
        (await lazy_logs()).checkpointLogs(repo, { actor: invokingActor(), full: true }),
      );
      // Recorded first (under the lock), then told: the policy's alert path runs here.
      const alerts = await (await lazy_logAlert()).alertLogIncidents(repo, checked.incidents);
      const res = { ...checked, alerts };
      for (const n of res.notes) out.line(n);
      for (const i of res.incidents) printIncident(out, i, 'alert: ');
      out.line(
        res.commit
          ? `checkpoint ${res.commit.slice(0, 12)} (${res.checked.length} log(s))`
          : `nothing new in ${res.checked.length} log(s)`,
      );
      out.result(res);
      if (res.incidents.length) process.exitCode = Exit.tampered;
    });
}

function printEntry(out: Out, e: VerifyEntry): boolean {
  const name = display(e.path);
  if (e.status === 'untracked') {
    out.line(
      `${name}: ${out.color.red('not tracked yet')}: configured, but no byte of it has been verified (trail watch takes it in when it starts or sees it; now: sudo trail logs checkpoint)`,
    );
    return false;
  }
  if (e.status === 'diverged') {
    out.line(`${name}: ${out.color.red('DIVERGED')}`);
    for (const i of e.found) printIncident(out, i, '  ');
  } else if (e.status === 'missing') out.line(`${name}: no file on disk now`);
  else
    out.line(
      `${name}: ${out.color.green('intact')} since ${e.since} (generation ${e.generation}, ${e.verifiedLength} bytes verified${e.sizeNow !== undefined && e.verifiedLength !== undefined && e.sizeNow > e.verifiedLength ? `, ${e.sizeNow - e.verifiedLength} appended since the last check` : ''})`,
    );
  for (const r of e.rotated) out.line(`  rotated copy ${display(r.location)} intact (${r.length} bytes)`);
  if (e.recorded.length) {
    out.line(`  ${e.recorded.length} earlier incident(s):`);
    for (const i of e.recorded) printIncident(out, i, '    ');
  }
  return e.status === 'diverged' || e.recorded.length > 0;
}
