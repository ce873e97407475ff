import type { Command } from 'commander';
import { count } from './args.js';
import { display, toBytes } from '../util/bytes.js';
import { trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_access = () => import('../attribute/access.js');

export function registerAccess(program: Command): void {
  program
    .command('access')
    .argument('[path]', 'only reads of this path (relative to the watched directory), or of files under it')
    .option('-n, --max-count <n>', 'at most this many, newest first', count)
    .description(
      'who read the files matching access.paths (recorded by trail watch with Linux audit, kept on the local-only ref refs/trail/access)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail config set access.paths "fsociety00.dat,ssl/private/**"\n  trail access\n  trail access fsociety00.dat --json',
    )
    .action(async (path: string | undefined, opts: { maxCount?: number }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      try {
        const want = path === undefined ? undefined : toBytes(path.replace(/^\.?\/+|\/+$/g, ''));
        let reads = (await (await lazy_access()).readAccess(repo))
          .filter((r) => want === undefined || r.path === want || r.path.startsWith(want + '/'))
          .reverse();
        if (opts.maxCount) reads = reads.slice(0, opts.maxCount);
        for (const r of reads)
          out.line(
            `${r.time}  ${display(r.path)}  ${r.login ?? 'no login'} (uid ${r.uid}) pid ${r.pid} ${display(r.argv ?? r.exe)}${r.tty !== '(none)' ? ` on ${r.tty}` : ''}`,
          );
        if (!reads.length)
          out.line(
            path
              ? `no recorded read of ${path}`
              : 'no recorded read (set access.paths, and run trail watch as root with auditd)',
          );
        out.result({
          reads: reads.map((r) => ({
            ...r,
            path: display(r.path),
            argv: r.argv === undefined ? undefined : display(r.argv),
          })),
        });
      } finally {
        repo.close();
      }
    });
}
