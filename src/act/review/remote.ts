import { promises as fsp } from 'node:fs';
import { asList, asNumber, readConfig, type Config } from '../../record/repo/settings.js';
import type { Repo } from '../../record/repo/repo.js';
import { hostComponent, refComponent } from '../../host/host-name.js';
import { remoteNames } from '../../util/refs.js';
import { hostName } from '../../util/accounts.js';
import { Exit, TrailError, errorCode } from '../../util/errors.js';
import { ExecError } from '../../util/exec.js';

/** Where the fetched tip of this host's approved branch is kept: under refs/trail/, so it is
 * never pushed back, and a ref keeps its objects from being pruned. */
export const REMOTE_APPROVED = 'refs/trail/review/remote-approved';

/** Where this trail's review happens, and the rules a decision from there must meet. */
export interface ReviewRemote {
  owner: string;
  repo: string;
  apiUrl: string;
  gitUrl: string;
  /** `trail/<host>/<name>`: every ref this host writes, and the only ones it acts on. */
  prefix: string;
  host: string;
  requiredApprovals: number;
  reviewers: string[];
  allowOwners: string[];
  allowSetuid: boolean;
  tokenFile: string;
  webhookSecretFile: string;
}

export function branches(r: Pick<ReviewRemote, 'prefix'>) {
  return remoteNames(r.prefix);
}

export function remoteFrom(config: Config, trailName: string): ReviewRemote | undefined {
  const full = String(config['review.remote'] ?? '');
  if (!full) return undefined;
  const [owner, repo] = full.split('/') as [string, string];
  const apiUrl = String(config['review.apiUrl'] || 'https://api.github.com');
  const gitUrl = String(config['review.gitUrl'] || '') || defaultGitUrl(apiUrl, owner, repo);
  checkUrl(apiUrl, 'review.apiUrl');
  checkUrl(gitUrl, 'review.gitUrl');
  const host = hostComponent(String(config['review.host'] || ''));
  return {
    owner,
    repo,
    apiUrl,
    gitUrl,
    host,
    prefix: `trail/${host}/${refComponent(trailName)}`,
    requiredApprovals: asNumber(config['review.requiredApprovals'], 1),
    reviewers: asList(config['review.reviewers']),
    allowOwners: asList(config['review.allowOwners']),
    allowSetuid: config['review.allowSetuid'] === true,
    tokenFile: String(config['review.tokenFile'] ?? ''),
    webhookSecretFile: String(config['review.webhookSecretFile'] ?? ''),
  };
}

export async function readRemote(repo: Repo): Promise<ReviewRemote | undefined> {
  return remoteFrom(await readConfig(repo), repo.info.name);
}

export async function requireRemote(repo: Repo): Promise<ReviewRemote> {
  const r = await readRemote(repo);
  if (!r) throw new TrailError('no review remote is set', Exit.usage, 'trail remote set github OWNER/REPO');
  return r;
}

function defaultGitUrl(apiUrl: string, owner: string, repo: string): string {
  const u = new URL(apiUrl);
  if (u.hostname === 'api.github.com') return `https://github.com/${owner}/${repo}.git`;
  // GitHub Enterprise serves the API under /api/v3 and repositories at the root.
  return `${u.protocol}//${u.host}/${owner}/${repo}.git`;
}

/** The token travels in a header only: a URL with credentials would end up in git's
 * messages and in logs, and plain HTTP would send it in the clear (loopback excepted). */
export function checkUrl(url: string, what: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TrailError(`${what} is not a URL`, Exit.usage);
  }
  if (u.username || u.password)
    throw new TrailError(
      `${what} must not carry credentials (the token comes from GITHUB_TOKEN or review.tokenFile)`,
      Exit.usage,
    );
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback))
    throw new TrailError(`${what} must be https (plain http only to this machine)`, Exit.usage);
}

/**
 * A file holding a credential: it must be a regular file owned by root (or by the user trail
 * runs as, when not root) and readable by nobody else — a token that other local users can
 * read lets them approve changes to this host.
 */
export async function readCredentialFile(file: string, what: string): Promise<string> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    throw new TrailError(
      `cannot read the ${what} file ${file}: ${errorCode(err) ?? (err as Error).message}`,
      Exit.error,
    );
  }
  try {
    const st = await fh.stat();
    const uid = process.getuid?.() ?? 0;
    if (!st.isFile()) throw new TrailError(`the ${what} file ${file} is not a regular file`, Exit.error);
    if (st.uid !== 0 && st.uid !== uid)
      throw new TrailError(
        `refusing the ${what} file ${file}: owned by uid ${st.uid}, not root`,
        Exit.error,
        `chown root ${file}`,
      );
    if (st.mode & 0o077)
      throw new TrailError(
        `refusing the ${what} file ${file}: mode ${(st.mode & 0o777).toString(8)} lets others read it`,
        Exit.error,
        `chmod 600 ${file}`,
      );
    const text = (await fh.readFile('utf8')).trim();
    if (!text) throw new TrailError(`the ${what} file ${file} is empty`, Exit.error);
    return text;
  } finally {
    await fh.close();
  }
}

export async function readToken(r: ReviewRemote): Promise<string> {
  const env = process.env.GITHUB_TOKEN?.trim();
  if (env) return env;
  if (!r.tokenFile)
    throw new TrailError(
      'no GitHub token: set GITHUB_TOKEN or review.tokenFile',
      Exit.usage,
      'trail config set review.tokenFile /etc/trail/github-token',
    );
  return readCredentialFile(r.tokenFile, 'token');
}

/**
 * Environment that gives git the token as an HTTP header through GIT_CONFIG_* variables:
 * never in argv (visible in ps), never in a URL (git prints URLs in its messages).
 */
export function gitAuthEnv(token: string): NodeJS.ProcessEnv {
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    GIT_CONFIG_KEY_1: 'credential.helper',
    GIT_CONFIG_VALUE_1: '',
  };
}

/** Removes the token from any text before it is shown (a server may echo it back). */
export function scrub(text: string, token: string | undefined): string {
  if (!token) return text;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return text.split(token).join('***').split(basic).join('***');
}

/**
 * git against the remote, authenticated by gitAuthEnv; a failure becomes a TrailError whose
 * message never holds the token. `timeoutMs`: the run is killed after that long, and curl
 * gives up on a transfer that stalls (less than 1 byte a second) for as long, so that a
 * remote that stops answering leaves no git process behind. `signal`: the run is killed
 * at once, with its remote helper (a daemon that stops does not wait for a hung remote).
 */
export async function remoteGit(
  repo: Repo,
  r: ReviewRemote,
  token: string,
  args: string[],
  okCodes = [0],
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
) {
  const env = gitAuthEnv(token);
  if (opts.timeoutMs !== undefined) {
    env.GIT_HTTP_LOW_SPEED_LIMIT = '1';
    env.GIT_HTTP_LOW_SPEED_TIME = String(Math.max(1, Math.ceil(opts.timeoutMs / 1000)));
  }
  try {
    return await repo.git(args, { env, okCodes, timeoutMs: opts.timeoutMs, signal: opts.signal });
  } catch (err) {
    if (err instanceof ExecError)
      throw new TrailError(
        scrub(
          `git ${args[0]} to ${r.gitUrl} failed: ${err.result.stderr.trim().split('\n').slice(-3).join(' ')}`,
          token,
        ),
        Exit.error,
      );
    throw err;
  }
}
