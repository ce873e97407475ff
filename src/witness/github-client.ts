// The few GitHub REST calls the witness makes, through trail's HTTP client (util/http-client.ts:
// node:http, not fetch): the token in a header only, never in a URL or a log line; pagination
// by the Link header as GitHub documents it.
import { scrub } from '../act/review/remote.js';
import { httpRequest, type HttpAnswer } from '../util/http-client.js';

export class GitHubError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'GitHubError';
  }
}

export class GitHubClient {
  constructor(
    readonly apiUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 20_000,
  ) {}

  private headers(): Record<string, string> {
    return {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'trail-witness',
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
    };
  }

  url(path: string): string {
    return this.apiUrl.replace(/\/+$/, '') + path;
  }

  async request<T>(method: string, pathOrUrl: string, body?: unknown): Promise<{ data: T; next?: string }> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : this.url(pathOrUrl);
    let res: HttpAnswer;
    try {
      res = await httpRequest(url, {
        method,
        headers: { ...this.headers(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new GitHubError(
        `${method} ${new URL(url).pathname}: ${scrub(String((err as Error).message), this.token)}`,
        0,
      );
    }
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status > 299) {
      let msg = text.slice(0, 300);
      try {
        msg = String((JSON.parse(text) as { message?: string }).message ?? msg);
      } catch {
        /* not JSON */
      }
      throw new GitHubError(
        `${method} ${new URL(url).pathname}: HTTP ${res.status} ${scrub(msg, this.token)}`,
        res.status,
      );
    }
    const link = res.headers.link ?? '';
    const next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
    return { data: (text ? JSON.parse(text) : null) as T, ...(next ? { next } : {}) };
  }

  /** Follows rel="next" while `more(page)` says so, up to `maxPages`. */
  async paginate<T>(path: string, more: (page: T[]) => boolean, maxPages = 20): Promise<T[]> {
    const out: T[] = [];
    let url: string | undefined = path;
    for (let i = 0; url && i < maxPages; i++) {
      const { data, next }: { data: T[]; next?: string } = await this.request<T[]>('GET', url);
      out.push(...data);
      if (!more(data)) break;
      url = next;
    }
    return out;
  }
}
