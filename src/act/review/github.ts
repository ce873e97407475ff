import { Octokit } from '@octokit/rest';
import { Exit, TrailError } from '../../util/errors.js';
import { fetchLike } from '../../util/http-client.js';
import { scrub, type ReviewRemote } from './remote.js';

export interface RetryOptions {
  /** Attempts for a server error or a dropped connection. */
  attempts: number;
  /** First pause between attempts; doubles each time. */
  backoffMs: number;
  /** The longest GitHub may ask us to wait (Retry-After, rate-limit reset) before we give up
   * and say so, rather than hold the repository lock for an hour. */
  maxWaitMs: number;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 4, backoffMs: 500, maxWaitMs: 60_000 };

interface HttpishError {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/**
 * GitHub's REST API through octokit, with the failures said plainly: 401 (token), 403/429
 * rate limits (waits as long as GitHub asks, within maxWaitMs, then retries), 422 (what
 * GitHub objected to), 5xx and dropped connections (retried with backoff). A failure throws:
 * callers record a decision only after GitHub confirmed what it needed to, so a failed call
 * means the next sync does it again, never that it is lost.
 */
export class GitHub {
  readonly octokit: Octokit;
  readonly owner: string;
  readonly repo: string;
  private login: string | undefined;

  constructor(
    readonly remote: ReviewRemote,
    private readonly token: string,
    private readonly retry: RetryOptions = retryFromEnv(),
  ) {
    this.owner = remote.owner;
    this.repo = remote.repo;
    const quiet = () => {};
    this.octokit = new Octokit({
      auth: token,
      baseUrl: remote.apiUrl,
      userAgent: 'trail',
      log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      // node:http rather than Node's fetch, which compiles its parser from WebAssembly in each
      // process: ~0.24 s of CPU per command (util/http-client.ts).
      request: { fetch: fetchLike },
    });
  }

  /** `forbidden` turns a 403 (not a rate limit) into the caller's own explanation, when it
   * knows better than "the token needs contents:write" what the refusal means. */
  async call<T>(
    what: string,
    fn: (o: Octokit) => Promise<{ data: T }>,
    opts: { forbidden?: (detail: string) => TrailError | undefined } = {},
  ): Promise<T> {
    let attempt = 0;
    let pause = this.retry.backoffMs;
    for (;;) {
      attempt++;
      try {
        return (await fn(this.octokit)).data;
      } catch (err) {
        const e = err as HttpishError;
        const status = e.status;
        const headers = e.response?.headers ?? {};
        const detail = this.detail(e);
        if (status === 401)
          throw new TrailError(
            `GitHub refused the token while trying to ${what} (401 Bad credentials)`,
            Exit.error,
            'check GITHUB_TOKEN or review.tokenFile; the token may have expired',
          );
        const wait = rateLimitWait(status, headers);
        if (wait !== undefined) {
          if (wait > this.retry.maxWaitMs || attempt >= this.retry.attempts) {
            throw new TrailError(
              `GitHub rate limit while trying to ${what} (${status}): retry after ${Math.ceil(wait / 1000)} s`,
              Exit.error,
              'nothing was lost: trail review sync (or the next webhook) picks it up again',
            );
          }
          await sleep(wait);
          continue;
        }
        if (status === 403) {
          const mine = opts.forbidden?.(detail);
          if (mine) throw mine;
        }
        if (status === 403)
          throw new TrailError(
            `GitHub denied ${what} (403): ${detail}`,
            Exit.error,
            'the token needs contents:write and pull_requests:write on the review repository',
          );
        if (status === 404)
          throw new TrailError(
            `GitHub has no such thing while trying to ${what} (404): ${detail}`,
            Exit.error,
            `check review.remote (${this.owner}/${this.repo}) and that the token can see it`,
          );
        if (status === 422) throw new TrailError(`GitHub rejected ${what} (422): ${detail}`, Exit.error);
        const transient = status === undefined || status >= 500 || status === 408;
        if (transient && attempt < this.retry.attempts) {
          await sleep(pause);
          pause *= 2;
          continue;
        }
        if (transient)
          throw new TrailError(
            `GitHub did not answer while trying to ${what} (${status ?? 'no connection'}${detail ? `: ${detail}` : ''}), after ${attempt} attempts`,
            Exit.error,
            'nothing was lost: trail review sync picks it up again',
          );
        throw new TrailError(`GitHub failed to ${what} (${status}): ${detail}`, Exit.error);
      }
    }
  }

  private detail(e: HttpishError): string {
    const data = e.response?.data as
      { message?: string; errors?: { message?: string; field?: string; code?: string }[] } | undefined;
    const parts = [data?.message ?? e.message ?? ''];
    for (const x of data?.errors ?? []) parts.push(x.message ?? [x.field, x.code].filter(Boolean).join(' '));
    return scrub(parts.filter(Boolean).join('; ').slice(0, 500), this.token);
  }

  /** The account trail acts as: its approvals never count. */
  async self(): Promise<string> {
    this.login ??= (await this.call("read the token's account", (o) => o.rest.users.getAuthenticated())).login;
    return this.login;
  }
}

function retryFromEnv(): RetryOptions {
  // Tests shorten the pauses; a person never needs to.
  const base = Number(process.env.TRAIL_GITHUB_BACKOFF_MS);
  return Number.isFinite(base) && base > 0 ? { ...DEFAULT_RETRY, backoffMs: base } : DEFAULT_RETRY;
}

function rateLimitWait(
  status: number | undefined,
  headers: Record<string, string | number | undefined>,
): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const after = headers['retry-after'];
  if (after !== undefined && Number.isFinite(Number(after))) return Number(after) * 1000;
  if (String(headers['x-ratelimit-remaining']) === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    return Number.isFinite(reset) ? Math.max(0, reset * 1000 - Date.now()) + 1000 : 60_000;
  }
  return status === 429 ? 60_000 : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type PullRequest = Awaited<ReturnType<Octokit['rest']['pulls']['get']>>['data'];
export type PullSummary = Awaited<ReturnType<Octokit['rest']['pulls']['list']>>['data'][number];
