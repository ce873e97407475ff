// Native git on the witness's mirror: one process for many objects wherever it can, since a
// fleet of 1,000 hosts makes thousands of new commits between two looks.
import { run, type RunResult } from '../util/exec.js';
import { gitEnv } from '../util/git-env.js';

export function mgit(
  gitDir: string,
  args: string[],
  opts: { input?: string | Buffer; okCodes?: number[]; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return run('git', [`--git-dir=${gitDir}`, ...args], {
    env: gitEnv({ GIT_TERMINAL_PROMPT: '0', ...opts.env }),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.okCodes ? { okCodes: opts.okCodes } : {}),
  });
}

/** Raw objects by id through one `git cat-file --batch`; missing ids are left out. */
export async function readObjects(gitDir: string, ids: string[]): Promise<Map<string, { type: string; data: Buffer }>> {
  const out = new Map<string, { type: string; data: Buffer }>();
  if (!ids.length) return out;
  const r = await mgit(gitDir, ['cat-file', '--batch'], { input: ids.join('\n') + '\n' });
  const b = r.stdout;
  let at = 0;
  for (const id of ids) {
    const nl = b.indexOf(10, at);
    if (nl < 0) break;
    const header = b.subarray(at, nl).toString('utf8');
    at = nl + 1;
    const m = /^(\S+) (\S+) (\d+)$/.exec(header);
    if (!m) continue; // "<id> missing"
    const size = Number(m[3]);
    out.set(id, { type: m[2]!, data: b.subarray(at, at + size) });
    at += size + 1;
  }
  return out;
}

/** Which of these names (ids or REV:PATH) exist, through one `git cat-file --batch-check`. */
export async function existing(gitDir: string, names: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!names.length) return out;
  const r = await mgit(gitDir, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], {
    input: names.join('\n') + '\n',
  });
  const lines = r.stdout.toString('utf8').split('\n');
  names.forEach((n, i) => {
    const m = /^([0-9a-f]{40,64}) (\S+)$/.exec(lines[i] ?? '');
    if (m && m[2] !== 'missing') out.set(n, m[1]!);
  });
  return out;
}

/** Every commit reachable from `tips` and from none of `stops`, with its parents: one
 * `git rev-list --parents --stdin` for the whole fleet. */
export async function newCommits(
  gitDir: string,
  tips: string[],
  stops: string[],
): Promise<{ graph: Map<string, string[]>; times: Map<string, number> }> {
  const graph = new Map<string, string[]>();
  const times = new Map<string, number>();
  if (!tips.length) return { graph, times };
  const input = [...new Set(tips)].join('\n') + '\n' + [...new Set(stops)].map((s) => `^${s}`).join('\n') + '\n';
  const r = await mgit(gitDir, ['rev-list', '--timestamp', '--parents', '--stdin'], { input });
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [t, id, ...parents] = line.split(' ');
    graph.set(id!, parents);
    times.set(id!, Number(t) * 1000);
  }
  return { graph, times };
}

export async function isAncestor(gitDir: string, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const r = await mgit(gitDir, ['merge-base', '--is-ancestor', a, b], { okCodes: [0, 1, 128] });
  return r.code === 0;
}

/** Commits of `from` that `to` does not contain, newest first (what a rewrite dropped). */
export async function lostCommits(gitDir: string, from: string, to: string | undefined): Promise<string[]> {
  const r = await mgit(gitDir, ['rev-list', from, ...(to ? [`^${to}`] : [])], { okCodes: [0, 128] });
  return r.stdout.toString('utf8').split('\n').filter(Boolean);
}
