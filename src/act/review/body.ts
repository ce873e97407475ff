import { NOTES_REF } from '../../anchor/shadow-git.js';
import { changeLine, type Change } from '../../record/model/diff.js';
import type { Repo } from '../../record/repo/repo.js';
import { decide } from '../../decide/evaluate.js';
import type { Policy } from '../../decide/policy.js';
import { display } from '../../util/bytes.js';

export interface CommitFacts {
  commit: string;
  author: string;
  date: string;
  subject: string;
  trailers: Record<string, string>;
}

/** Trailers that may go to GitHub. Trail-Argv is redacted when it is recorded (attribute/
 * redact.ts); anything else a commit carries stays on the host. */
const SHOWN = [
  'Trail-Uid',
  'Trail-Login',
  'Trail-Exe',
  'Trail-Argv',
  'Trail-Tty',
  'Trail-Pid',
  'Trail-Actor',
  'Trail-Apt-Command',
  'Trail-Packages',
  'Trail-Attribution',
  'Trail-Policy',
];

/** The unaccepted commits: in observed, not reachable from approved. */
export async function driftCommits(repo: Repo, approved: string, observed: string, max = 50): Promise<CommitFacts[]> {
  const r = await repo.git([
    'log',
    `-${max}`,
    '--format=%H%x00%an%x00%aI%x00%s%x00%(trailers:unfold,only)%x1e',
    observed,
    `^${approved}`,
  ]);
  const out: CommitFacts[] = [];
  for (const rec of r.stdout.toString('utf8').split('\x1e')) {
    const f = rec.replace(/^\n/, '').split('\0');
    if (f.length < 5) continue;
    const trailers: Record<string, string> = {};
    for (const line of f[4]!.split('\n')) {
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) trailers[m[1]!] = m[2]!;
    }
    out.push({ commit: f[0]!, author: f[1]!, date: f[2]!, subject: f[3]!, trailers });
  }
  return out;
}

async function anchored(repo: Repo, commit: string): Promise<boolean> {
  const r = await repo.git(['notes', '--ref', NOTES_REF, 'list', commit], { okCodes: [0, 1] });
  return r.code === 0 && r.stdout.toString().trim() !== '';
}

/** Text from the host, made inert for GitHub: no control characters, no @mentions pinging
 * people, no markdown. */
function plain(s: string, max = 200): string {
  const t = s
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/@/g, '@\u200b')
    .replace(/[`*_<>[\]|]/g, (c) => `\\${c}`);
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

/** A fenced block no content can close: the fence is longer than any backtick run inside. */
function fenced(lines: string[]): string {
  const text = lines.map((l) => l.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ')).join('\n');
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

export function reviewActors(commits: CommitFacts[]): string[] {
  return [...new Set(commits.map((c) => c.author))];
}

export function prTitle(host: string, name: string, changes: Change[], commits: CommitFacts[]): string {
  const paths = changes.map((c) => display(c.path));
  const what = paths.length > 3 ? `${paths.slice(0, 3).join(', ')} and ${paths.length - 3} more` : paths.join(', ');
  const who = reviewActors(commits);
  const title = `${host}:${name}: ${what} by ${who.slice(0, 3).join(', ') || 'unknown'}`;
  return title.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 250);
}

/**
 * Who, when, what, anchoring and the rule — never content: a PR shows paths and metadata,
 * and GitHub shows the diff of the pushed trees, whose secret files are placeholders.
 */
export async function prBody(
  repo: Repo,
  opts: {
    host: string;
    approved: string;
    observed: string;
    changes: Change[];
    commits: CommitFacts[];
    policy?: Policy;
  },
): Promise<string> {
  const { commits, changes } = opts;
  const lines: string[] = [];
  lines.push(
    `Changes on **${plain(opts.host)}** in \`${plain(repo.info.dir).replace(/`/g, '')}\` (trail **${plain(repo.info.name)}**) that are not accepted yet.`,
  );
  lines.push('');
  lines.push(
    'Merge to accept them (approved advances to the merge). Close without merging to revert these paths on the host to approved.',
  );
  lines.push('');
  lines.push(`### What (${changes.length} path${changes.length === 1 ? '' : 's'})`);
  lines.push(
    fenced(
      changes
        .slice(0, 100)
        .map(changeLine)
        .concat(changes.length > 100 ? [`… and ${changes.length - 100} more`] : []),
    ),
  );
  lines.push('');
  lines.push('### Who and when');
  const stamped = await Promise.all(commits.map((c) => anchored(repo, c.commit)));
  const who: string[] = [];
  commits.forEach((c, i) => {
    who.push(`${c.commit.slice(0, 12)}  ${c.date}  ${c.author}  ${c.subject}`);
    for (const k of SHOWN) if (c.trailers[k]) who.push(`    ${k}: ${c.trailers[k]!.slice(0, 300)}`);
    who.push(
      `    anchoring: ${stamped[i] ? 'OpenTimestamps proof attached (refs/notes)' : 'not stamped yet (queued)'}`,
    );
  });
  lines.push(fenced(who.length ? who : ['(no commits)']));
  lines.push('');
  const rules = new Map<number, string>();
  if (opts.policy) {
    for (const c of changes) {
      const d = decide(opts.policy, c, { name: commits[0]?.author ?? 'unknown' });
      if (d.action === 'review' && d.rule)
        rules.set(
          d.rule.index,
          `rule ${d.rule.index}${d.rule.name ? ` "${plain(d.rule.name)}"` : ''} (policy line ${d.rule.line}): ${d.rule.paths.map((p) => plain(p)).join(', ')}`,
        );
    }
  }
  lines.push('### Why review');
  lines.push(rules.size ? [...rules.values()].map((r) => `- ${r}`).join('\n') : '- opened by `trail review open`');
  lines.push('');
  lines.push(`<sub>trail · approved ${opts.approved.slice(0, 12)} → observed ${opts.observed.slice(0, 12)}</sub>`);
  return lines.join('\n');
}
