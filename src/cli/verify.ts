import type { Command } from 'commander';
import { readConfig } from '../record/repo/settings.js';
import { plural } from './output.js';
import { trailContext } from './session.js';
import { drift } from '../record/snapshot.js';
import { changesJson } from './changes.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_anchor = () => import('../anchor/index.js');
const lazy_witness = () => import('../act/review/witness.js');

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .argument('[rev]', 'verify this commit and its history (default: every trail ref)')
    .option('--offline', 'do not ask the explorer: Bitcoin attestations stay unchecked')
    .option('--no-disk', 'do not compare the watched directory with the last commit')
    .option('--remote', 'also compare with what was pushed to GitHub: pushed history and proofs must still be here')
    .description('check objects, proofs and Bitcoin attestations of the trail (exit 0 verified, 10 pending, 11 failed)')
    .addHelpText(
      'after',
      '\nBlock merkle roots come from the explorer in anchor.esplora, which this check trusts.\n\nExamples:\n  trail verify\n  trail verify observed~10 --json\n  trail verify --offline',
    )
    .action(
      async (rev: string | undefined, opts: { offline?: boolean; disk: boolean; remote?: boolean }, cmd: Command) => {
        const { out, repo } = await trailContext(cmd);
        const a = (await lazy_anchor()).anchorOptionsFromConfig(await readConfig(repo));
        const r = await (
          await lazy_anchor()
        ).verify(repo.gitDir, rev, { esplora: a.esplora, timeoutMs: a.timeoutMs, offline: !!opts.offline });
        const c = r.counts;
        const head =
          r.status === 'verified'
            ? out.color.green('verified')
            : r.status === 'pending'
              ? out.color.yellow('pending')
              : out.color.red('FAILED');
        out.line(
          `${head}: ${plural(c.verified + c.pending + c.failed, 'commit')} — ${c.verified} anchored in Bitcoin, ${c.pending} pending, ${c.failed} failed`,
        );
        out.line(
          r.explorer
            ? out.color.dim(`block merkle roots from ${r.explorer} (trusted)`)
            : out.color.dim('offline: no Bitcoin attestation was checked'),
        );
        for (const f of r.findings.filter((x) => x.severity === 'fail'))
          out.line(`${out.color.red('failed')}  ${f.kind}${f.commit ? ' ' + f.commit.slice(0, 12) : ''}: ${f.message}`);
        for (const f of r.findings.filter((x) => x.severity === 'warn'))
          out.line(
            `${out.color.yellow('warning')} ${f.kind}${f.commit ? ' ' + f.commit.slice(0, 12) : ''}: ${f.message}`,
          );
        // Check 5: the disk matches the last commit, every byte re-read. A difference is not a
        // forged history, but it is something the trail does not (yet) describe.
        let disk: { clean: boolean; changes: unknown[] } | undefined;
        if (opts.disk && rev === undefined) {
          const d = await drift(repo, { full: true });
          disk = { clean: !d.changes.length, changes: changesJson(d.changes) };
          if (d.changes.length)
            out.line(
              `${out.color.yellow('warning')} disk: ${plural(d.changes.length, 'change')} in ${repo.info.dir} not recorded yet (see trail status --full)`,
            );
          else out.line(out.color.dim(`disk: ${repo.info.dir} matches the last commit (every byte re-read)`));
        }
        // Check 6: GitHub as a witness of what this host already published.
        let remote: Awaited<ReturnType<typeof import('../act/review/witness.js').checkAgainstRemote>> | undefined;
        if (opts.remote) {
          remote = await (await lazy_witness()).checkAgainstRemote(repo);
          for (const f of remote.findings)
            out.line(
              `${out.color.red('failed')}  ${f.kind}${f.commit ? ' ' + f.commit.slice(0, 12) : ''}: ${f.message}`,
            );
          if (!remote.findings.length)
            out.line(
              out.color.dim(
                `remote: everything pushed to ${remote.remote} is still here (${remote.compared.proofs} proofs compared)`,
              ),
            );
        }
        const waiting = r.commits.filter((v) => v.status === 'pending');
        if (waiting.length) {
          const oldest = waiting.reduce((m, v) => Math.min(m, v.time), Infinity);
          out.line(
            `${plural(waiting.length, 'commit')} pending, the oldest from ${new Date(oldest * 1000).toISOString()}: ${waiting[0]!.reasons[0] ?? ''}`,
          );
        }
        out.result({ ...r, disk: disk ?? null, remote: remote ?? null });
        process.exitCode = remote?.findings.length
          ? (await lazy_anchor()).VERIFY_EXIT.failed
          : (await lazy_anchor()).VERIFY_EXIT[r.status];
      },
    );
}
