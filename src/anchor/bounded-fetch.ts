// The one HTTP client of anchoring: calendars and the explorer are asked through trail's
// own client (util/http-client.ts: node:http, not fetch), with the bounds a root daemon needs
// against a server that is slow, endless or hostile: a deadline for the answer's headers,
// another for its body, and a cap on the body's size (read chunk by chunk, so a calendar
// cannot make trail buffer megabytes).
//
// Proxies: HTTP(S)_PROXY/NO_PROXY are not read (honouring them would mean a second HTTP stack
// for tunnelling). trail connects directly; when a proxy variable is set and a connection
// fails, the reason says so, rather than leaving a "host not found" to be puzzled over.
import { HttpBodyTooLarge, openRequest, readBody } from '../util/http-client.js';

export class FetchError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'FetchError';
  }
}

export interface FetchAnswer {
  status: number;
  body: Buffer;
}

export interface FetchOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Buffer;
  /** for the headers, and again for the body */
  timeoutMs: number;
  /** a longer body is refused (FetchError), not truncated */
  maxBytes: number;
}

export async function boundedFetch(url: string, opts: FetchOptions): Promise<FetchAnswer> {
  const ac = new AbortController();
  let phase = 'no answer';
  let timer = setTimeout(() => ac.abort(), opts.timeoutMs);
  try {
    const head = await openRequest(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      ...(opts.body ? { body: opts.body } : {}),
      signal: ac.signal,
      // A redirect is followed only by a client that asked for it: request 2.88's SSRF
      // (CVE-2023-28155) came through one. A calendar or explorer that moved is an error.
      redirect: 'manual',
    });
    clearTimeout(timer);
    phase = 'no complete answer';
    timer = setTimeout(() => ac.abort(), opts.timeoutMs);
    return { status: head.status, body: await readBody(head, opts.maxBytes, ac.signal) };
  } catch (err) {
    if (err instanceof HttpBodyTooLarge) throw new FetchError(err.message);
    if (ac.signal.aborted) throw new FetchError(`${phase} within ${opts.timeoutMs} ms`);
    throw new FetchError(describe(err) + proxyNote(url));
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  const msg = String(e?.cause?.message ?? e?.message ?? err);
  return (
    msg
      .replace(/[^\x20-\x7e]+/g, ' ')
      .trim()
      .slice(0, 200) || 'request failed'
  );
}

/** " (HTTPS_PROXY is set …)" when a proxy variable would have applied to `url`. */
export function proxyNote(url: string, env: NodeJS.ProcessEnv = process.env): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '';
  }
  const names = u.protocol === 'https:' ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  const name = names.find((n) => env[n]);
  if (!name) return '';
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const host = u.hostname.toLowerCase();
  if (noProxy.some((p) => p === '*' || host === p.replace(/^\./, '') || host.endsWith('.' + p.replace(/^\./, ''))))
    return '';
  return ` (${name} is set, but trail connects directly: its HTTP client does not use proxies)`;
}
