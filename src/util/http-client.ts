// The one HTTP client of trail, over node:http and node:https rather than fetch. Why: Node
// 20's fetch (undici) compiles its HTTP parser from WebAssembly in every process that makes
// a request, ~0.24 s of CPU before the first byte is sent (measured, 10 runs each: `node -e`
// with one fetch 0.31 s, with one http.get 0.08 s, empty 0.06 s). Every `trail witness`,
// `review sync`, `stamp`, `push` and alert paid it; node:http's parser is native code.
//
// What fetch did that callers relied on is kept: redirects followed (or not, on request)
// with the Authorization header dropped when the origin changes, an AbortSignal, the body
// read whole. And one thing fetch cannot: a cap on the body, read chunk by chunk, so a
// server cannot make trail buffer more than it asked for. Proxies: neither fetch (in Node
// 20) nor this reads HTTP(S)_PROXY; anchor/bounded-fetch.ts says so when one is set.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** 'follow' (the default, as fetch): up to 5 redirects; 'manual': a 3xx is the answer. */
  redirect?: 'follow' | 'manual';
}

/** An answer whose headers have come; its body is still to be read (readBody). */
export interface HttpHead {
  status: number;
  statusText: string;
  /** the URL that answered, after redirects */
  url: string;
  /** lower-case names; a repeated header joined with ", " as fetch joins it */
  headers: Record<string, string>;
  stream: IncomingMessage;
}

export interface HttpAnswer extends Omit<HttpHead, 'stream'> {
  body: Buffer;
}

/** A body longer than the caller's limit: refused, not truncated. */
export class HttpBodyTooLarge extends Error {
  /** `declared`: the Content-Length that announced it, when one did. */
  constructor(
    readonly limit: number,
    readonly declared?: number,
  ) {
    super(
      declared === undefined
        ? `answer exceeds the limit of ${limit} bytes`
        : `answer of ${declared} bytes exceeds the limit of ${limit}`,
    );
    this.name = 'HttpBodyTooLarge';
  }
}

const MAX_REDIRECTS = 5;

/** Sends a request and resolves when the answer's headers have come. Connection errors
 * reject with Node's own error (its `code`: ECONNREFUSED, ENOTFOUND, …); an abort rejects
 * with the signal's reason. */
export async function openRequest(url: string, req: HttpRequest = {}): Promise<HttpHead> {
  let target = new URL(url);
  let method = (req.method ?? 'GET').toUpperCase();
  let body = req.body;
  const headers = { ...req.headers };
  for (let hop = 0; ; hop++) {
    const head = await once(target, method, headers, body, req.signal);
    const location = head.headers.location;
    if (req.redirect === 'manual' || ![301, 302, 303, 307, 308].includes(head.status) || !location) return head;
    head.stream.resume();
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
    const next = new URL(location, target);
    if (next.protocol !== 'https:' && next.protocol !== 'http:')
      throw new Error(`redirect to ${next.protocol} refused`);
    if (target.protocol === 'https:' && next.protocol === 'http:')
      throw new Error('redirect from https to http refused');
    // As fetch: credentials never follow to another origin; a 303 (and a 301/302 of a POST)
    // becomes a GET without a body.
    if (next.origin !== target.origin) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    }
    if (head.status === 303 ? method !== 'HEAD' : (head.status === 301 || head.status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      for (const k of Object.keys(headers)) if (/^content-(type|length)$/i.test(k)) delete headers[k];
    }
    target = next;
  }
}

/** Reads an answer's body whole; more than `maxBytes` rejects (HttpBodyTooLarge). */
export async function readBody(head: HttpHead, maxBytes = Infinity, signal?: AbortSignal): Promise<Buffer> {
  const declared = Number(head.headers['content-length'] ?? NaN);
  if (declared > maxBytes) {
    head.stream.destroy();
    throw new HttpBodyTooLarge(maxBytes, declared);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = () => head.stream.destroy(abortReason(signal));
  signal?.addEventListener('abort', stop, { once: true });
  try {
    if (signal?.aborted) stop();
    for await (const chunk of head.stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        head.stream.destroy();
        throw new HttpBodyTooLarge(maxBytes);
      }
      chunks.push(chunk);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  return Buffer.concat(chunks);
}

/** openRequest and readBody in one. */
export async function httpRequest(url: string, req: HttpRequest = {}, maxBytes = Infinity): Promise<HttpAnswer> {
  const head = await openRequest(url, req);
  const body = await readBody(head, maxBytes, req.signal);
  return { status: head.status, statusText: head.statusText, url: head.url, headers: head.headers, body };
}

/** What @octokit/request reads of a fetch Response (status, url, headers to iterate and get,
 * text/arrayBuffer), over httpRequest: given to Octokit as `request.fetch`. */
export async function fetchLike(
  url: string | URL,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
    signal?: AbortSignal;
    redirect?: string;
  } = {},
): Promise<FetchLikeResponse> {
  if (
    init.body !== undefined &&
    init.body !== null &&
    typeof init.body !== 'string' &&
    !(init.body instanceof Uint8Array)
  )
    throw new TypeError('trail sends a string or bytes as a request body');
  const a = await httpRequest(String(url), {
    method: init.method,
    headers: init.headers,
    body: (init.body ?? undefined) as string | Uint8Array | undefined,
    signal: init.signal,
    redirect: init.redirect === 'manual' ? 'manual' : 'follow',
  });
  const entries = Object.entries(a.headers);
  return {
    status: a.status,
    statusText: a.statusText,
    url: a.url,
    ok: a.status >= 200 && a.status < 300,
    headers: {
      get: (name: string) => a.headers[name.toLowerCase()] ?? null,
      has: (name: string) => name.toLowerCase() in a.headers,
      forEach: (fn: (value: string, key: string) => void) => entries.forEach(([k, v]) => fn(v, k)),
      [Symbol.iterator]: () => entries[Symbol.iterator](),
    },
    body: null,
    text: async () => a.body.toString('utf8'),
    json: async () => JSON.parse(a.body.toString('utf8')) as unknown,
    arrayBuffer: async () => new Uint8Array(a.body).buffer,
  };
}

export interface FetchLikeResponse {
  status: number;
  statusText: string;
  url: string;
  ok: boolean;
  headers: {
    get(name: string): string | null;
    has(name: string): boolean;
    forEach(fn: (value: string, key: string) => void): void;
    [Symbol.iterator](): Iterator<[string, string]>;
  };
  body: null;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

function once(
  target: URL,
  method: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  signal: AbortSignal | undefined,
): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const data = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    const lib = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!lib) return reject(new Error(`${target.protocol} URLs are not fetched`));
    const r = lib.request(target, {
      method,
      headers: { ...headers, ...(data ? { 'content-length': String(data.length) } : {}) },
      signal,
    });
    // on, not once: an error after the answer came (the socket lost mid-body) must find a listener too.
    r.on('error', (err) => reject(signal?.aborted ? abortReason(signal) : err));
    r.once('response', (res) => {
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        url: target.href,
        headers: flatten(res.headers),
        stream: res,
      });
    });
    r.end(data);
  });
}

function flatten(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function abortReason(signal: AbortSignal | undefined): Error {
  const r = signal?.reason as unknown;
  if (r instanceof Error) return r;
  const e = new Error('the request was aborted');
  e.name = 'AbortError';
  return e;
}
