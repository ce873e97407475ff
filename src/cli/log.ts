import type { Command } from 'commander';
import { count, date } from './args.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { contentName, metaName, META_DIR, MANIFEST } from '../record/tree/layout.js';
import { parseManifest } from '../record/model/meta.js';
import { baseName, parentOf, safeText } from '../util/bytes.js';
import { readLog, type LogEntry } from '../record/commit/history.js';
import { relativeTime } from './output.js';
import { trailContext } from './session.js';
import { watchedPath } from './paths.js';

/** The content path and the manifest that hold a path in the commit tree. */
function treePaths(path: string): { content: string; manifest: string } {
  const parts = path.split('/');
  const content = parts.map((n, i) => contentName(n, i === 0)).join('/');
  const dir = parentOf(path);
  const manifest = `${META_DIR}/meta/${dir === '' ? '' : dir.split('/').map(metaName).join('/') + '/'}${MANIFEST}`;
  return { content, manifest };
}

async function metaLineOf(repo: Repo, rev: string, manifest: string, name: string): Promise<string | undefined> {
  const r = await repo.git(['cat-file', 'blob', `${rev}:${Buffer.from(manifest, 'latin1').toString('utf8')}`], {
    okCodes: [0, 128],
  });
  if (r.code !== 0) return undefined;
  const m = parseManifest(r.stdout).children.find(([n]) => n === name);
  return m ? JSON.stringify(m[1]) : undefined;
}

export function registerLog(program: Command): void {
  program
    .command('log')
    .argument('[path]', 'only commits that changed this path (content or metadata)')
    .option('-n, --max-count <n>', 'at most this many commits', count)
    .option('--since <date>', 'commits after this date', date)
    .option('--until <date>', 'commits before this date', date)
    .option('--rev <rev>', 'start from this revision instead of the trail (observed)')
    .description('the trail, newest first: when, who, what')
    .addHelpText(
      'after',
      '\nExamples:\n  trail log\n  trail log ssh/sshd_config\n  trail log -n 20 --since "2 days ago" --json',
    )
    .action(
      async (
        path: string | undefined,
        opts: { maxCount?: number; since?: string; until?: string; rev?: string },
        cmd: Command,
      ) => {
        const { out, repo } = await trailContext(cmd);
        const rev = opts.rev ?? Refs.observed;
        let entries: LogEntry[];
        if (path !== undefined) {
          const p = watchedPath(repo.info.dir, path);
          const t = treePaths(p);
          const candidates = await readLog(repo, rev, {
            pathspecs: [t.content, t.manifest],
            since: opts.since,
            until: opts.until,
          });
          entries = [];
          for (const e of candidates) {
            // A manifest also changes for the path's neighbours: keep the commit only if the
            // path's own content or metadata changed.
            const parent = e.parents[0];
            const [contentNow, contentBefore] = await Promise.all([
              repo.git(
                ['rev-parse', '--verify', '-q', `${e.commit}:${Buffer.from(t.content, 'latin1').toString('utf8')}`],
                { okCodes: [0, 1, 128] },
              ),
              parent
                ? repo.git(
                    ['rev-parse', '--verify', '-q', `${parent}:${Buffer.from(t.content, 'latin1').toString('utf8')}`],
                    { okCodes: [0, 1, 128] },
                  )
                : undefined,
            ]);
            const contentChanged = contentNow.stdout.toString() !== (contentBefore?.stdout.toString() ?? '');
            const metaChanged =
              !contentChanged &&
              (await metaLineOf(repo, e.commit, t.manifest, baseName(p))) !==
                (parent ? await metaLineOf(repo, parent, t.manifest, baseName(p)) : undefined);
            if (contentChanged || metaChanged) entries.push(e);
            if (opts.maxCount && entries.length >= opts.maxCount) break;
          }
        } else {
          entries = await readLog(repo, rev, { max: opts.maxCount, since: opts.since, until: opts.until });
        }
        for (const e of entries) {
          const when = new Date(e.date);
          const action = e.trailers['Trail-Action'] ? out.color.dim(` [${e.trailers['Trail-Action']}]`) : '';
          out.line(
            `${out.color.yellow(e.commit.slice(0, 12))}  ${when.toISOString().slice(0, 16).replace('T', ' ')} ${out.color.dim(`(${relativeTime(when)})`)}  ${out.color.bold(safeText(e.author))}  ${safeText(e.subject)}${action}`,
          );
        }
        if (!entries.length) out.line('no commits');
        out.result({ commits: entries });
      },
    );
}
