import type { Repo } from '../record/repo/repo.js';

/** The trail's commits as `git log` gives them, with their Trail-* trailers: read by
 * `trail log`, `trail show`, `trail events`, the report, and status (and the watcher that
 * answers status), so it lives here and not in a command. */
export interface LogEntry {
  commit: string;
  parents: string[];
  author: string;
  email: string;
  date: string;
  subject: string;
  body: string;
  trailers: Record<string, string>;
}

const SEP = '\x1e';

export async function readLog(
  repo: Repo,
  rev: string,
  opts: { max?: number; pathspecs?: string[]; since?: string; until?: string } = {},
): Promise<LogEntry[]> {
  const args = ['log', '-z', `--format=%H${SEP}%P${SEP}%an${SEP}%ae${SEP}%aI${SEP}%s${SEP}%b`];
  if (opts.max) args.push(`--max-count=${opts.max}`);
  if (opts.since) args.push(`--since=${opts.since}`);
  if (opts.until) args.push(`--until=${opts.until}`);
  args.push(rev, '--');
  // Pathspecs must reach git as the exact bytes; literal pathspecs are not globbed.
  if (opts.pathspecs) args.push(...opts.pathspecs.map((p) => ':(literal)' + Buffer.from(p, 'latin1').toString('utf8')));
  const r = await repo.git(args, { okCodes: [0, 128] });
  if (r.code !== 0) return [];
  return r.stdout
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .map((rec) => {
      const [commit, parents, author, email, date, subject, body] = rec.split(SEP);
      const trailers: Record<string, string> = {};
      for (const m of (body ?? '').matchAll(/^(Trail-[A-Za-z-]+): (.*)$/gm)) trailers[m[1]!] = m[2]!;
      return {
        commit: commit!,
        parents: parents ? parents.split(' ') : [],
        author: author!,
        email: email!,
        date: date!,
        subject: subject!,
        body: body ?? '',
        trailers,
      };
    });
}
