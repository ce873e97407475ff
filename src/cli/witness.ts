import { existsSync, promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { date } from './args.js';
import { Exit, TrailError } from '../util/errors.js';
import { makeOut, plural } from './output.js';
import { globals } from './session.js';

// Loaded only when this command runs.
const lazy_state = () => import('../witness/state.js');
const lazy_roster = () => import('../witness/roster.js');
const lazy_run = () => import('../witness/check-run.js');
const lazy_issues = () => import('../witness/issue-opener.js');
const lazy_report = () => import('../witness/fleet-report.js');

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new TrailError(`not a number: ${v}`, Exit.usage);
  return n;
}

function stateOf(cmd: Command): string | undefined {
  return (cmd.optsWithGlobals() as { state?: string }).state;
}

export function registerWitness(program: Command): void {
  const w = program
    .command('witness')
    .description(
      'check a fleet off the host, from GitHub alone: history only grows, signed checkpoints, silence, proofs',
    )
    .option('--state <dir>', 'where the witness keeps its mirror and memory (default: $TRAIL_HOME/witness)')
    .addHelpText(
      'after',
      '\nExamples:\n  trail witness add github acme/fleet-etc --max-silence 900\n  trail witness trust web1 web1.pub\n  trail witness check --json\n  trail witness report -o fleet.html',
    );

  w.command('add')
    .argument('<kind>', 'github (GitHub or GitHub Enterprise)')
    .argument('<repository>', 'OWNER/REPO where the hosts publish their trails')
    .option('--api-url <url>', 'REST API base URL (GitHub Enterprise: https://HOST/api/v3)')
    .option('--git-url <url>', 'clone URL, when it is not derived from the API URL')
    .option('--max-silence <seconds>', 'a host without a checkpoint for longer is silent (default 900)', num)
    .option('--proof-grace <seconds>', 'how long a commit may wait for its proof (default 21600)', num)
    .option('--esplora <url>', 'esplora-style explorer trusted for Bitcoin block merkle roots')
    .option('--token-file <file>', 'a file (0600) holding a read token; else GITHUB_TOKEN is used')
    .option(
      '--calendar <url>',
      "an OpenTimestamps calendar that stamps the witness's own history (repeat for several; default: trail's)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--no-anchor',
      "do not anchor the witness's own history (an air-gapped witness; --calendar turns it on again)",
    )
    .description('watch the trails published in a GitHub repository')
    .addHelpText(
      'after',
      '\nExamples:\n  trail witness add github acme/fleet-etc\n  trail witness add github ops/etc --api-url https://ghe.example.com/api/v3 --token-file /etc/trail/witness-token',
    )
    .action(
      async (
        kind: string,
        repository: string,
        o: {
          apiUrl?: string;
          gitUrl?: string;
          maxSilence?: number;
          proofGrace?: number;
          esplora?: string;
          tokenFile?: string;
          calendar?: string[];
          anchor?: boolean;
        },
        cmd: Command,
      ) => {
        const out = makeOut(globals(cmd).json);
        if (kind !== 'github') throw new TrailError(`unknown kind "${kind}" (known: github)`, Exit.usage);
        const { StateDir } = await lazy_state();
        const { makeSource, addSource } = await lazy_roster();
        const { calendar, anchor, ...rest } = o;
        const src = makeSource(repository, {
          ...rest,
          ...(o.tokenFile ? { tokenFile: resolve(o.tokenFile) } : {}),
        });
        const sd = new StateDir(stateOf(cmd));
        const { updated, state } = await addSource(sd, src, calendar, anchor === false && !calendar?.length);
        out.line(
          `${updated ? 'updated' : 'watching'} github ${repository} (${src.gitUrl}); silence after ${src.maxSilence} s, proofs within ${src.proofGrace} s; state in ${sd.dir}`,
        );
        out.result({
          repository,
          updated,
          source: src,
          stateDir: sd.dir,
          calendars: (await import('../witness/state-anchor.js')).witnessCalendars(state),
        });
      },
    );

  w.command('list')
    .description('the repositories, hosts and keys the witness knows')
    .addHelpText('after', '\nExamples:\n  trail witness list\n  trail witness list --json')
    .action(async (_o: unknown, cmd: Command) => {
      const out = makeOut(globals(cmd).json);
      const { StateDir, sourceName } = await lazy_state();
      const { fingerprint } = await import('../witness/signature-checker.js');
      const sd = new StateDir(stateOf(cmd));
      const s = await sd.load();
      if (!s.sources.length) out.line('no repository yet: trail witness add github OWNER/REPO');
      for (const src of s.sources) {
        out.line(
          `github ${sourceName(src)}  (${src.gitUrl}; silence ${src.maxSilence} s, proof grace ${src.proofGrace} s)`,
        );
        for (const wt of Object.values(s.watches).filter((x) => x.repository === sourceName(src)))
          out.line(
            `  ${wt.host}/${wt.name}  ${wt.key ? `${fingerprint(wt.key.blob)} (${wt.key.how})` : 'no key yet'}  ${wt.checkpoint ? `checkpoint ${wt.checkpoint.seq}` : 'no checkpoint yet'}`,
          );
      }
      for (const [who, blob] of Object.entries(s.pins)) out.line(`pinned ${who}: ${fingerprint(blob)}`);
      const sa = await import('../witness/state-anchor.js');
      const anchoring = existsSync(sd.mirror)
        ? await sa.anchoringStatus(sd.mirror, sa.witnessCalendars(s))
        : { calendars: sa.witnessCalendars(s), commits: 0, anchored: 0, pending: 0, unstamped: 0, problems: [] };
      out.line(
        `witness history: ${plural(anchoring.commits, 'commit')}, ${anchoring.anchored} anchored in Bitcoin, ${anchoring.pending} pending, ${anchoring.unstamped} not stamped yet`,
      );
      out.result({
        anchoring,
        stateDir: sd.dir,
        sources: s.sources,
        pins: Object.fromEntries(Object.entries(s.pins).map(([k, v]) => [k, fingerprint(v)])),
        hosts: Object.values(s.watches).map((x) => ({
          repository: x.repository,
          host: x.host,
          name: x.name,
          key: x.key ? { fingerprint: fingerprint(x.key.blob), how: x.key.how } : null,
          checkpoint: x.checkpoint ?? null,
        })),
      });
    });

  w.command('trust')
    .argument('<who>', 'HOST, or HOST/NAME for one watched directory')
    .argument('<pubkey-file>', "the host's public key (as `trail remote show` prints it, or its .pub file)")
    .description("pin a host's checkpoint key: checkpoints signed by any other key are findings")
    .addHelpText(
      'after',
      '\nExamples:\n  trail witness trust web1 web1.pub\n  trail witness trust web1/etc web1-etc.pub',
    )
    .action(async (who: string, file: string, _o: unknown, cmd: Command) => {
      const out = makeOut(globals(cmd).json);
      const { StateDir } = await lazy_state();
      const r = await (await lazy_roster()).trustKey(new StateDir(stateOf(cmd)), who, file);
      out.line(`pinned ${r.who}: ${r.fingerprint}${r.replaced ? ` (replaces ${r.replaced})` : ''}`);
      out.result(r);
    });

  w.command('ack')
    .argument('<id...>', 'finding ids (W-…) as check prints them')
    .option('--note <text>', 'why (kept in the witness history)')
    .description('acknowledge findings that are past events (a rewrite, a gap): they stop failing the check')
    .addHelpText(
      'after',
      '\nExamples:\n  trail witness ack W-3f2a9c1b --note "planned history rewrite, ticket OPS-1234"',
    )
    .action(async (ids: string[], o: { note?: string }, cmd: Command) => {
      const out = makeOut(globals(cmd).json);
      const { StateDir } = await lazy_state();
      const done = await (await lazy_roster()).acknowledge(new StateDir(stateOf(cmd)), ids, o.note);
      out.line(done.length ? `acknowledged ${done.join(', ')}` : 'nothing to acknowledge (already closed)');
      out.result({ acknowledged: done });
    });

  w.command('check')
    .option('--open-issues', 'open a GitHub issue per new finding in the witness repository, close it when it clears')
    .option('--issues-repo <owner/repo>', 'where issues go (default: $GITHUB_REPOSITORY)')
    .option('--issues-token-file <file>', 'token for the issues (default: GITHUB_TOKEN)')
    .option('--no-protection', 'do not ask GitHub which rules protect the branches')
    .description('look at every host now (exit 0 all clear, 10 proofs pending, 11 a finding, 12 a source unread)')
    .addHelpText(
      'after',
      '\nExit codes: 0 all clear, 10 nothing wrong but proofs pending, 11 at least one open finding,\n12 a source could not be read (its hosts were not checked; 11 wins when both apply).\n\nExamples:\n  trail witness check\n  trail witness check --json\n  GITHUB_REPOSITORY=acme/witness trail witness check --open-issues',
    )
    .action(
      async (
        o: { openIssues?: boolean; issuesRepo?: string; issuesTokenFile?: string; protection: boolean },
        cmd: Command,
      ) => {
        const out = makeOut(globals(cmd).json);
        const { runCheck } = await lazy_run();
        const issues = o.openIssues
          ? await (await lazy_issues()).issueHook(o.issuesRepo, o.issuesTokenFile, out)
          : undefined;
        const r = await runCheck({
          stateDir: stateOf(cmd),
          protection: o.protection,
          ...(issues ? { onFindings: issues } : {}),
        });
        const c = out.color;
        const tag = { finding: c.red('FINDING'), warning: c.yellow('warning'), notice: c.dim('notice') };
        for (const repo of r.repositories)
          out.line(
            repo.error
              ? `${c.red('unreachable')} ${repo.repository}: ${repo.error}`
              : `${repo.repository}: ${plural(repo.hosts, 'host/name', 'hosts/names')}, fetched ${repo.fetchedAt}; GitHub activity ${repo.activity.available ? `${repo.activity.events} event(s)` : `not available (${repo.activity.reason ?? ''})`}`,
          );
        const verdicts = { green: 0, amber: 0, red: 0 };
        for (const h of r.hosts) verdicts[h.verdict]++;
        out.line(
          `hosts: ${c.green(`${verdicts.green} green`)}, ${c.yellow(`${verdicts.amber} amber`)}, ${c.red(`${verdicts.red} red`)}`,
        );
        for (const f of r.findings) {
          out.line(`${tag[f.severity]} ${f.id}${r.new.includes(f.id) ? ' (new)' : ''} ${f.title}`);
          out.line(`  ${f.message}`);
        }
        for (const id of r.cleared) out.line(`${c.green('cleared')} ${id}`);
        for (const h of r.hosts)
          if (h.drift?.commits)
            out.line(
              `${h.repository} ${h.host}/${h.name}: open drift, ${plural(h.drift.commits, 'commit')} over ${plural(h.drift.paths, 'path')} not approved${h.drift.since ? ` since ${h.drift.since}` : ''}`,
            );
        for (const p of r.anchoring.problems) out.warn(`anchoring the witness's history: ${p}`);
        const a = r.anchoring;
        out.line(
          `witness history: ${plural(a.commits, 'commit')}; ${a.stamped ?? 0} stamped now, ${a.anchored} anchored in Bitcoin, ${a.pending} pending, ${a.unstamped} not stamped yet`,
        );
        for (const h of r.happened)
          out.line(
            `${h.repository} ${h.host}/${h.name}: ${plural(h.changes, 'change')} (${Object.entries(h.byActor)
              .map(([a, n]) => `${a} ${n}`)
              .join(', ')})${h.violations.length ? `, ${c.red(`${h.violations.length} not allowed by policy`)}` : ''}`,
          );
        out.line(
          r.status === 'clear'
            ? c.green('all clear')
            : r.status === 'pending'
              ? c.yellow('nothing wrong; proofs pending')
              : r.status === 'unknown'
                ? c.red('not checked: a source could not be read, so its hosts are unknown (exit 12)')
                : c.red(`${plural(r.findings.filter((f) => f.severity === 'finding').length, 'open finding')}`),
        );
        out.result(r);
        process.exitCode = r.exitCode;
      },
    );

  w.command('report')
    .option('-o, --output <file>', 'write the page to this file')
    .option('--since <date>', 'changes after this date (2024-05-01, "7 days ago")', date)
    .addOption(new Option('--format <format>', 'html or md').choices(['html', 'md']).default('html'))
    .description('one page for people who decide: a verdict per host, silence, unwatched windows, who changed what')
    .addHelpText(
      'after',
      '\nThe page is built from the last check (run `trail witness check` first) and the mirror.\n\nExamples:\n  trail witness report -o fleet.html\n  trail witness report --since "7 days ago" --format md\n  trail witness report --json',
    )
    .action(async (o: { output?: string; since?: string; format: 'html' | 'md' }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const { StateDir } = await lazy_state();
      const rep = await lazy_report();
      const data = await rep.gatherFleet(new StateDir(stateOf(cmd)), { ...(o.since ? { since: o.since } : {}) });
      if (g.json) {
        out.result(data);
        return;
      }
      const text = o.format === 'md' ? rep.renderFleetMarkdown(data) : rep.renderFleetHtml(data);
      if (o.output) {
        await fsp.writeFile(o.output, text, { mode: 0o600 });
        out.line(
          `${plural(data.hosts.length, 'host/name', 'hosts/names')}: ${data.verdicts.red} red, ${data.verdicts.amber} amber, ${data.verdicts.green} green → ${resolve(o.output)}`,
        );
      } else process.stdout.write(text);
    });
}
