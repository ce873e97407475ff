import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import { parseValue, readStored, writeConfig } from '../record/repo/settings.js';
import { Exit, TrailError } from '../util/errors.js';
import { branches, checkUrl, readCredentialFile, readRemote, requireRemote } from '../act/review/remote.js';
import { hostProtection, protectRemote, readTokenFromStdin } from '../act/publish/ruleset-guard.js';
import { makeOut } from './output.js';
import { asWriter, globals, openTrail } from './session.js';

export function registerRemote(program: Command): void {
  const remote = program
    .command('remote')
    .description('the GitHub repository where changes are reviewed as pull requests');
  remote
    .command('set')
    .argument('<kind>', 'github (GitHub or GitHub Enterprise)')
    .argument('<repository>', 'OWNER/REPO')
    .option('--api-url <url>', 'REST API base URL (GitHub Enterprise: https://HOST/api/v3)')
    .option('--git-url <url>', 'clone URL, when it is not derived from the API URL')
    .description('review changes in a GitHub repository (the token comes from GITHUB_TOKEN or review.tokenFile)')
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail remote set github acme/fleet-etc\n  sudo trail remote set github ops/etc --api-url https://ghe.example.com/api/v3\n  sudo trail config set review.tokenFile /etc/trail/github-token',
    )
    .action(async (kind: string, repository: string, o: { apiUrl?: string; gitUrl?: string }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      if (kind !== 'github') throw new TrailError(`unknown remote kind "${kind}" (known: github)`, Exit.usage);
      const values: Record<string, string> = { 'review.remote': repository };
      if (o.apiUrl) values['review.apiUrl'] = o.apiUrl;
      if (o.gitUrl) values['review.gitUrl'] = o.gitUrl;
      const parsed = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, parseValue(k, v)]));
      if (o.apiUrl) checkUrl(String(parsed['review.apiUrl']), '--api-url');
      if (o.gitUrl) checkUrl(String(parsed['review.gitUrl']), '--git-url');
      const repo = await openTrail(g);
      await asWriter(repo, out, 'remote', async () => {
        const stored = await readStored(repo);
        Object.assign(stored, parsed);
        if (!o.apiUrl) delete stored['review.apiUrl'];
        if (!o.gitUrl) delete stored['review.gitUrl'];
        await writeConfig(repo, stored, invokingActor(), `config: review remote github ${repository}`);
      });
      const r = (await readRemote(repo))!;
      out.line(`review remote: github ${r.owner}/${r.repo} (${r.gitUrl}); this host pushes to ${r.prefix}/…`);
      out.result(showJson(r));
    });
  remote
    .command('protect')
    .option(
      '--admin-token-file <file>',
      "a token with the repository's Administration permission (else read from stdin)",
    )
    .description(
      "make this host's branches on GitHub append-only: a ruleset refusing deletion and force-push of refs/heads/trail/**/* (the admin token is used once, never stored)",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail remote protect --admin-token-file /root/admin-token\n  gh auth token | sudo trail remote protect --json',
    )
    .action(async (o: { adminTokenFile?: string }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const r = await requireRemote(await openTrail(g));
      const token = o.adminTokenFile
        ? await readCredentialFile(o.adminTokenFile, 'admin token')
        : await readTokenFromStdin();
      const res = await protectRemote(r, token);
      out.line(
        res.created
          ? `created ruleset ${res.ruleset.name} (id ${res.ruleset.id}) on ${res.repository}`
          : `an equivalent active ruleset exists on ${res.repository}: ${res.ruleset.name} (id ${res.ruleset.id})`,
      );
      out.line(`  ${res.protection.message}`);
      out.result(res);
    });
  remote
    .command('show')
    .option('--offline', 'do not ask GitHub whether the branches are protected')
    .description('the review remote, the branches this host uses, and whether GitHub keeps them append-only')
    .addHelpText('after', '\nExamples:\n  trail remote show\n  trail remote show --json')
    .action(async (o: { offline?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const repo = await openTrail(g);
      const r = await readRemote(repo);
      if (!r) {
        out.line('no review remote (review rules alert only); set one with: trail remote set github OWNER/REPO');
        out.result(null);
        return;
      }
      const b = branches(r);
      out.line(`github ${r.owner}/${r.repo}`);
      out.line(`  api:       ${r.apiUrl}`);
      out.line(`  git:       ${r.gitUrl}`);
      out.line(`  observed:  ${b.observed}`);
      out.line(`  approved:  ${b.approved}`);
      out.line(`  proofs:    ${b.notes}`);
      out.line(
        `  token:     ${process.env.GITHUB_TOKEN ? 'GITHUB_TOKEN' : r.tokenFile || '(none: set GITHUB_TOKEN or review.tokenFile)'}`,
      );
      out.line(`  approvals: ${r.requiredApprovals}${r.reviewers.length ? ` by ${r.reviewers.join(', ')}` : ''}`);
      const protection = o.offline ? undefined : await hostProtection(r);
      if (protection)
        out.line(
          `  protected: ${protection.state === 'protected' ? out.color.green('yes') : out.color.yellow(protection.state === 'unprotected' ? 'NO' : protection.state)}: ${protection.message}`,
        );
      out.result({ ...showJson(r), ...(protection ? { protection } : {}) });
    });
}

function showJson(r: NonNullable<Awaited<ReturnType<typeof readRemote>>>) {
  const b = branches(r);
  return {
    kind: 'github',
    repository: `${r.owner}/${r.repo}`,
    apiUrl: r.apiUrl,
    gitUrl: r.gitUrl,
    host: r.host,
    branches: { observed: b.observed, approved: b.approved, notes: b.notes, reviewPrefix: b.reviewPrefix },
    requiredApprovals: r.requiredApprovals,
    reviewers: r.reviewers,
  };
}
