import { createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { writeFileAtomic } from '../../util/atomic.js';
import { errorCode } from '../../util/errors.js';

const MAX_BODY = 5 * 1024 * 1024;
/** How much of a body past MAX_BODY is read and dropped so that its sender gets the 413
 * (GitHub caps its payloads at 25 MB); past it, the connection is cut. */
const DRAIN_MAX = 32 * 1024 * 1024;
const KEEP_DELIVERIES = 2000;
/** Connections at once: each may hold up to MAX_BODY before its signature can be checked.
 * GitHub sends a few at a time; a flood of slow ones is bounded (memory, descriptors). */
export const MAX_CONNECTIONS = 64;

/** Constant-time check of GitHub's `X-Hub-Signature-256: sha256=<hex HMAC of the body>`. */
export function verifySignature(secret: Buffer, body: Buffer, header: string | undefined): boolean {
  if (!header || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(body).digest('hex'));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Delivery ids already acted on, kept on disk: a replayed delivery is refused even after a
 * restart of trail serve. */
export class Deliveries {
  private ids: string[] | undefined;
  constructor(private readonly file: string) {}

  private async load(): Promise<string[]> {
    if (this.ids) return this.ids;
    let text: string | undefined;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
    // Only replay protection, kept locally: a damaged file starts over rather than turning
    // every delivery into a 500 (the signature still guards each one).
    let ids: unknown;
    try {
      ids = text === undefined ? [] : JSON.parse(text);
    } catch {
      ids = [];
    }
    this.ids = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
    return this.ids;
  }

  private chain: Promise<unknown> = Promise.resolve();

  /** Records the id; false when it was seen before. One at a time: two deliveries at once
   * each loaded a list of their own at the start (the same id twice was taken twice), and
   * their writes could land in either order (the later list lost, its ids replayable after
   * a restart). */
  add(id: string): Promise<boolean> {
    const next = this.chain.then(() => this.addNow(id));
    this.chain = next.catch(() => {});
    return next;
  }

  private async addNow(id: string): Promise<boolean> {
    const ids = await this.load();
    if (ids.includes(id)) return false;
    const before = [...ids];
    ids.push(id);
    if (ids.length > KEEP_DELIVERIES) ids.splice(0, ids.length - KEEP_DELIVERIES);
    try {
      await writeFileAtomic(this.file, JSON.stringify(ids));
    } catch (err) {
      // Not recorded, not acted on (the sender is told 500): its redelivery must be taken.
      ids.splice(0, ids.length, ...before);
      throw err;
    }
    return true;
  }
}

export interface WebhookOptions {
  secret: Buffer;
  deliveries: Deliveries;
  /** This host's approved branch: the only base whose events concern it. */
  approvedBranch: string;
  reviewPrefix: string;
  /** Asks for a sync; the webhook's payload is only a hint of what to look at. */
  requestSync(reason: string): void;
  log(line: string): void;
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message }) + '\n');
}

/** The body, or undefined when it is larger than MAX_BODY (announced so, or found so). Either
 * way the whole request is read before this resolves, what is past the limit thrown away and
 * never kept: a client may drop a connection whose answer is complete before its body is
 * sent (Node's fetch does, and then fails the request now and then instead of returning the
 * 413), and a server that closes with bytes unread makes the kernel reset the connection.
 * Past DRAIN_MAX the connection is cut, and there is no one to answer: `complete` is false
 * (also when the client went away before its end). */
function readBody(req: IncomingMessage): Promise<{ body?: Buffer; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number(req.headers['content-length'] ?? 0) > MAX_BODY;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > DRAIN_MAX) return void req.destroy();
      if (size > MAX_BODY) over = true;
      if (over) chunks.length = 0;
      else chunks.push(d);
    });
    req.on('end', () => resolve(over ? { complete: true } : { body: Buffer.concat(chunks), complete: true }));
    // After 'end' these change nothing; before it, the connection was cut (past DRAIN_MAX) or
    // the client went away: not an internal error, and nobody to answer.
    req.on('close', () => resolve({ complete: false }));
    req.on('error', () => resolve({ complete: false }));
  });
}

/**
 * The webhook endpoint of `trail serve`: a POST signed with the shared secret, with a delivery
 * id not seen before, as JSON. Anything else is refused before its body is believed.
 */
export function webhookServer(opts: WebhookOptions): Server {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((err) => {
      opts.log(`webhook: internal error: ${(err as Error).message}`);
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.end();
    });
  });
  // Node's defaults let a client take a minute to send its headers and five to send its
  // body, on as many connections as it likes (slow-loris): GitHub sends a delivery at once,
  // and gives up on an answer after 10 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxConnections = MAX_CONNECTIONS;
  return server;
}

async function handle(opts: WebhookOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return reply(res, 405, 'POST only');
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (type !== 'application/json')
    return reply(res, 415, 'content type must be application/json (set it in the webhook settings)');
  const event = req.headers['x-github-event'];
  const delivery = req.headers['x-github-delivery'];
  const signature = req.headers['x-hub-signature-256'];
  const { body, complete } = await readBody(req);
  if (!complete) return; // cut past DRAIN_MAX: nobody to answer
  if (!body) return reply(res, 413, `body too large (more than ${MAX_BODY} bytes)`);
  if (typeof signature !== 'string' || !verifySignature(opts.secret, body, signature)) {
    opts.log(
      `webhook: refused a delivery with ${signature ? 'a wrong' : 'no'} signature from ${req.socket.remoteAddress}`,
    );
    return reply(res, 401, 'bad signature');
  }
  if (
    typeof event !== 'string' ||
    typeof delivery !== 'string' ||
    !/^[A-Za-z0-9-]{1,100}$/.test(delivery) ||
    !/^[a-z_]{1,50}$/.test(event)
  )
    return reply(res, 400, 'missing X-GitHub-Event or X-GitHub-Delivery');
  let payload: Record<string, any>;
  try {
    payload = JSON.parse(body.toString('utf8'));
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new Error('not an object');
  } catch {
    return reply(res, 400, 'malformed JSON');
  }
  if (!(await opts.deliveries.add(delivery))) {
    opts.log(`webhook: refused a replay of delivery ${delivery}`);
    return reply(res, 409, 'delivery already received');
  }
  if (event === 'ping') return reply(res, 200, 'pong');
  // Only the shapes GitHub sends are read: String() of an array (["closed"]) would pass for
  // the string, and of {"toString": 1} throws; a number that is not one would reach the log.
  const ours = (branch: unknown) => branch === opts.approvedBranch;
  if (event === 'pull_request') {
    const pr: unknown = payload.pull_request;
    const base: unknown = isObject(pr) ? pr.base : undefined;
    if (!isObject(base) || !ours(base.ref)) return reply(res, 202, "not this host's branch");
    const number = isObject(pr) && Number.isSafeInteger(pr.number) ? `#${pr.number}` : '(no number)';
    if (typeof payload.action === 'string' && ['closed', 'reopened', 'edited', 'synchronize'].includes(payload.action))
      opts.requestSync(`pull request ${number} ${payload.action}`);
    return reply(res, 202, 'sync requested');
  }
  if (event === 'push') {
    if (typeof payload.ref !== 'string' || !ours(payload.ref.replace(/^refs\/heads\//, '')))
      return reply(res, 202, "not this host's branch");
    opts.requestSync(`push to ${opts.approvedBranch}`);
    return reply(res, 202, 'sync requested');
  }
  if (event === 'pull_request_review') return reply(res, 202, 'noted; the merge decides');
  return reply(res, 202, `event ${event} is not used`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Runs syncs one at a time: requests that arrive during a sync make one more run after it; a
 * failed sync is tried again with growing pauses until it succeeds, so a decision GitHub
 * announced is acted on even when GitHub (or the lock) was unavailable at first.
 */
export class SyncScheduler {
  private running = false;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly run: (reason: string) => Promise<void>,
    private readonly log: (line: string) => void,
    private readonly maxPauseMs = 300_000,
    private readonly firstPauseMs = 2_000,
  ) {}

  request(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    void this.loop(reason);
  }

  private async loop(reason: string): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        try {
          await this.run(reason);
          this.failures = 0;
        } catch (err) {
          this.failures++;
          const pause = Math.min(this.maxPauseMs, this.firstPauseMs * 2 ** (this.failures - 1));
          this.log(`sync failed (${(err as Error).message}); trying again in ${Math.round(pause / 1000)} s`);
          if (!this.stopped)
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.request(`retry after: ${reason}`);
            }, pause);
          return;
        }
        reason = 'more events arrived during a sync';
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
