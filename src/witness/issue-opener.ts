// `--open-issues`: one GitHub issue per new finding in the witness's own repository, closed
// when the condition clears; never two for one finding — each body carries a hidden marker
// (<!-- trail-witness:W-… -->) and the open and closed issues are read back before anything
// is opened. An event finding (a rewrite, a past silence) whose issue a person closes counts
// as acknowledged. Only findings (red) get issues; warnings stay in the report, since a fresh
// fleet without rulesets would otherwise open one issue per host.
import { readCredentialFile } from '../act/review/remote.js';
import { Exit, TrailError } from '../util/errors.js';
import type { Finding } from './findings.js';
import type { IssueSync } from './check-run.js';
import { GitHubClient, GitHubError } from './github-client.js';
import type { WitnessState } from './state.js';

const LABEL = 'trail-witness';
/** The witness's own marker: the body's last line. Only there: a host's text earlier in the
 * body (an audit login, a message) could carry a marker of its own naming another finding. */
const MARK = /\n<!-- trail-witness:(W-[0-9a-f]+) -->\s*$/;

/** Text that came from a host (its messages, names, refs, times) as inert text in an issue:
 * no HTML (a comment would hide what follows, or forge a marker), no @-mention that would
 * notify someone in the host's name. */
export function inert(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '@\u200b');
}

interface Issue {
  number: number;
  state: 'open' | 'closed';
  body?: string | null;
  pull_request?: unknown;
}

/** The finding an issue's body is about (its last line's marker). */
export function markerOf(body: string): string | undefined {
  return MARK.exec(body)?.[1];
}

export function issueBody(f: Finding): string {
  const times = Object.entries(f.times)
    .filter(([, v]) => v)
    .map(([k, v]) => `- ${inert(k)}: ${inert(String(v))}`)
    .join('\n');
  return [
    inert(f.message),
    '',
    `- repository: ${inert(f.repository)}`,
    ...(f.host ? [`- host: ${inert(f.host)}`, `- name: ${inert(String(f.name))}`] : []),
    ...(f.ref ? [`- ref: \`${inert(f.ref).replace(/`/g, "'")}\``] : []),
    ...(f.commits.length
      ? [
          `- commits: ${f.commits
            .slice(0, 20)
            .map((c) => `\`${c}\``)
            .join(', ')}`,
        ]
      : []),
    times,
    `- finding: ${f.id} (${f.kind}, ${f.event ? 'an event: close this issue, or run `trail witness ack ' + f.id + '`, once it is understood' : 'a condition: closed by the witness when it clears'})`,
    '',
    `<!-- trail-witness:${f.id} -->`,
  ].join('\n');
}

export class IssueOpener {
  constructor(
    private readonly gh: GitHubClient,
    private readonly repo: string,
  ) {}

  async existing(): Promise<Map<string, Issue>> {
    const all = await this.gh.paginate<Issue>(
      `/repos/${this.repo}/issues?state=all&labels=${LABEL}&per_page=100`,
      (p) => p.length === 100,
      50,
    );
    const out = new Map<string, Issue>();
    for (const i of all) {
      if (i.pull_request) continue;
      const id = markerOf(i.body ?? '');
      if (id && (!out.has(id) || i.state === 'open')) out.set(id, i);
    }
    return out;
  }

  /**
   * Brings the issues in line with the findings. Every open finding (red) without an issue
   * gets one — not only this run's new ones, so that an issue a failed run could not open is
   * opened by the next; a finding that came back reopens its closed issue; a cleared or
   * acknowledged finding closes its open issue with a comment saying why. Stops at the first
   * error: the next run picks up where this one stopped, and the markers prevent duplicates.
   */
  async sync(
    state: WitnessState,
    fresh: Finding[],
    cleared: Finding[],
    done: IssueSync = { repository: this.repo, opened: [], reopened: [], closed: [] },
  ): Promise<IssueSync> {
    const have = await this.existing();
    const freshIds = new Set(fresh.map((f) => f.id));
    // Event findings whose issue a person closed: acknowledged.
    for (const f of Object.values(state.findings)) {
      const i = have.get(f.id);
      if (f.status === 'open' && f.event && !freshIds.has(f.id) && i && i.state === 'closed') {
        f.status = 'acknowledged';
        f.acknowledged = { at: new Date().toISOString(), note: `issue #${i.number} closed on GitHub` };
      }
    }
    const open = Object.values(state.findings)
      .filter((f) => f.status === 'open' && f.severity === 'finding')
      .sort((a, b) => (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : a.id < b.id ? -1 : 1));
    for (const f of open) {
      const i = have.get(f.id);
      if (i) {
        f.issue = i.number;
        // A condition that cleared and came back; a closed issue of a finding still open
        // since an earlier run was closed by a person on purpose, and stays closed.
        if (i.state === 'closed' && freshIds.has(f.id)) {
          await this.gh.request('PATCH', `/repos/${this.repo}/issues/${i.number}`, { state: 'open' });
          await this.comment(i.number, `Found again at ${f.lastSeen}.\n\n${f.message}`);
          done.reopened.push(i.number);
        }
        continue;
      }
      const { data } = await this.gh.request<Issue>('POST', `/repos/${this.repo}/issues`, {
        title: `[trail witness] ${f.title}`.slice(0, 250),
        body: issueBody(f),
        labels: [LABEL],
      });
      f.issue = data.number;
      done.opened.push(data.number);
    }
    const toClose = [...cleared, ...Object.values(state.findings).filter((f) => f.status === 'acknowledged')];
    for (const f of toClose) {
      const i = have.get(f.id);
      if (!i || i.state !== 'open') continue;
      await this.comment(
        i.number,
        f.status === 'cleared'
          ? `Cleared at ${f.clearedAt}: the condition is gone.`
          : `Acknowledged${f.acknowledged?.note ? `: ${f.acknowledged.note}` : ''}.`,
      );
      await this.gh.request('PATCH', `/repos/${this.repo}/issues/${i.number}`, {
        state: 'closed',
        state_reason: 'completed',
      });
      done.closed.push(i.number);
    }
    return done;
  }

  private async comment(n: number, body: string): Promise<void> {
    await this.gh.request('POST', `/repos/${this.repo}/issues/${n}/comments`, { body });
  }
}

/** The check's hook: issues in --issues-repo or $GITHUB_REPOSITORY, with GITHUB_TOKEN or a file. */
export async function issueHook(
  repoOpt: string | undefined,
  tokenFile: string | undefined,
  out: { line(text: string): void; warn(text: string): void },
): Promise<(state: WitnessState, fresh: Finding[], cleared: Finding[]) => Promise<IssueSync>> {
  const repo = repoOpt ?? process.env.GITHUB_REPOSITORY;
  if (!repo || !/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/.test(repo))
    throw new TrailError(
      '--open-issues needs the witness repository',
      Exit.usage,
      'use --issues-repo OWNER/REPO (Actions sets GITHUB_REPOSITORY)',
    );
  const token = tokenFile ? await readCredentialFile(tokenFile, 'token') : process.env.GITHUB_TOKEN?.trim();
  if (!token) throw new TrailError('--open-issues needs a token: GITHUB_TOKEN or --issues-token-file', Exit.usage);
  const gh = new GitHubClient(process.env.GITHUB_API_URL ?? 'https://api.github.com', token);
  const opener = new IssueOpener(gh, repo);
  return async (state, fresh, cleared) => {
    const r: IssueSync = { repository: repo, opened: [], reopened: [], closed: [] };
    try {
      await opener.sync(state, fresh, cleared, r);
      if (r.opened.length) out.line(`opened issue(s) ${r.opened.map((n) => '#' + n).join(', ')} in ${repo}`);
      if (r.reopened.length) out.line(`reopened issue(s) ${r.reopened.map((n) => '#' + n).join(', ')} in ${repo}`);
      if (r.closed.length) out.line(`closed issue(s) ${r.closed.map((n) => '#' + n).join(', ')} in ${repo}`);
      return r;
    } catch (err) {
      // A side channel: the findings, the state and the exit code do not depend on it, and
      // the next run retries (the markers prevent duplicates).
      const e = err as Error;
      const status = e instanceof GitHubError ? e.status : 0;
      const hint =
        status === 401 || status === 403
          ? ` — the token needs Issues: read and write on ${repo} (in a workflow: permissions: issues: write)`
          : status === 404
            ? ` — is ${repo} the witness repository, and may the token see it?`
            : '';
      r.error = `${e.message}${hint}`;
      out.warn(`issues in ${repo} not all updated: ${r.error}`);
      return r;
    }
  };
}
