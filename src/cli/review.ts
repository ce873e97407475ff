import type { Command } from 'commander';
import { display } from '../util/bytes.js';
import { asWriter, reviewContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_github = () => import('../act/review/github.js');
const lazy_open = () => import('../act/review/open.js');
const lazy_remote = () => import('../act/review/remote.js');
const lazy_state = () => import('../act/review/state.js');
const lazy_sync = () => import('../act/review/sync.js');

export function registerReview(program: Command): void {
  const review = program
    .command('review')
    .description('changes reviewed as GitHub pull requests: merge accepts, close reverts');
  review
    .command('open')
    .description('open (or update) the pull request for the current drift')
    .addHelpText('after', '\nExamples:\n  sudo trail review open\n  sudo trail review open --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo, remote, token } = await reviewContext(cmd);
      const r = await asWriter(repo, out, 'review open', async () =>
        (await lazy_open()).openReview(repo, remote, token),
      );
      if (r.note) out.line(r.note);
      else if (r.episode)
        out.line(`${r.created ? 'opened' : 'updated'} pull request #${r.episode.number}: ${r.episode.url}`);
      out.result({
        created: r.created,
        note: r.note ?? null,
        pullRequest: r.episode
          ? {
              number: r.episode.number,
              url: r.episode.url,
              branch: r.episode.branch,
              head: r.episode.head,
              paths: r.episode.paths.map(display),
            }
          : null,
      });
    });
  review
    .command('sync')
    .description('act on decisions made on GitHub: merged → accepted or applied, closed → reverted')
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail review sync\n  sudo trail review sync --json      (from a timer, when GitHub cannot reach trail serve)',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo, remote, token } = await reviewContext(cmd);
      const r = await asWriter(repo, out, 'review sync', async () =>
        (await lazy_sync()).syncReview(repo, remote, token),
      );
      for (const a of r.actions) out.line(`${a.kind}: ${a.message}`);
      if (!r.actions.length) out.line('nothing decided since the last sync');
      out.result({ actions: r.actions, open: r.open.map((e) => ({ number: e.number, url: e.url })) });
    });
  review
    .command('status')
    .description('pull requests of this host and their state')
    .addHelpText('after', '\nExamples:\n  trail review status\n  trail review status --json')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo, remote, token } = await reviewContext(cmd);
      const gh = new (await lazy_github()).GitHub(remote, token);
      const b = (await lazy_remote()).branches(remote);
      const open = await gh.call('list pull requests', (o) =>
        o.rest.pulls.list({ owner: gh.owner, repo: gh.repo, state: 'open', base: b.approved, per_page: 100 }),
      );
      const state = await (await lazy_state()).loadState(repo);
      const rows = open.map((p) => ({
        number: p.number,
        title: p.title,
        url: p.html_url,
        author: p.user?.login ?? null,
        trail: state.episodes.some((e) => e.number === p.number),
        state: 'open',
      }));
      for (const r of rows) out.line(`#${r.number}  ${r.trail ? 'drift' : 'gitops'}  ${r.title}`);
      if (!rows.length) out.line(`no open pull requests into ${b.approved}`);
      const decided = state.episodes.filter((e) => e.state !== 'open').slice(-10);
      if (decided.length) out.line('recently decided:');
      for (const e of decided)
        out.line(`#${e.number}  ${e.state}  ${e.outcome ?? ''}${e.pendingComment ? '  (comment still to post)' : ''}`);
      out.result({
        open: rows,
        decided: decided.map((e) => ({
          number: e.number,
          state: e.state,
          outcome: e.outcome ?? null,
          pendingComment: !!e.pendingComment,
        })),
      });
    });
}
