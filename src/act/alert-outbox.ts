import { createHash, createHmac, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { errorCode } from '../util/errors.js';
import type { Repo } from '../record/repo/repo.js';

// Webhook alerts go through an outbox (`<repo>/trail/alerts/`, 0700, one file per alert,
// 0600): each is written, durably, before it is first sent, and removed only once the
// receiver answers 2xx. A receiver that is down or refuses, a network that is cut, a process
// killed in between: the alert waits and is sent again, 30 s after the first failure, then
// twice as long each time up to an hour, until it gets through; those behind it to the same
// receiver wait with it (first in first out per URL). Delivery is at least once:
// `X-Trail-Delivery` names each alert, the same on every try, so a receiver drops a repeat.
// The body and its signature are made again at each try from what was queued (the key is read
// from its file then: it is never written here).

export interface QueuedAlert {
  v: 1;
  id: string;
  /** ISO 8601 UTC: when it was queued. */
  queued: string;
  url: string;
  secretFile: string;
  body: string;
  attempts: number;
  /** ms since the epoch: when it is due again. */
  nextAt: number;
  lastProblem?: string;
}

export interface Delivery {
  ok: boolean;
  status?: number;
  problem?: string;
  /** Not tried: an older alert to the same URL failed first in this round (its id). */
  waitsBehind?: string;
}

const TIMEOUT_MS = 10_000;
const FIRST_RETRY_MS = 30_000;
const LONGEST_RETRY_MS = 3_600_000;

export function outboxDir(repo: Repo): string {
  return join(repo.stateDir, 'alerts');
}

/** How long after `attempts` failed tries the next one is due. */
export function retryDelayMs(attempts: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), LONGEST_RETRY_MS);
}

let lastIdMs = 0;

/** An alert's id (its file's name, X-Trail-Delivery): a listing sorts them in the order they
 * were made. The milliseconds never repeat nor go back within a process: two alerts of one
 * moment sorted by their random part otherwise (the second was sent first about one time in
 * a hundred, when a receiver down took only the first). */
export function deliveryId(): string {
  lastIdMs = Math.max(Date.now(), lastIdMs + 1);
  return `${lastIdMs.toString().padStart(15, '0')}-${randomUUID()}`;
}

/** Alerts kept waiting at most. A receiver down for weeks under a flood of changes would
 * otherwise fill the disk the trail itself is written on; what comes past it is counted in
 * one alert per receiver that says so (the changes themselves are in the trail).
 * TRAIL_OUTBOX_MAX overrides it (tests). */
const MAX_QUEUED = 10_000;

/** Queues one alert for `url`, signed with the key in `secretFile` when it is sent. */
export async function queueWebhook(repo: Repo, url: string, secretFile: string, event: unknown): Promise<QueuedAlert> {
  const dir = outboxDir(repo);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const waiting = (await fsp.readdir(dir)).filter((n) => n.endsWith('.json'));
  if (waiting.length >= (Number(process.env.TRAIL_OUTBOX_MAX) || MAX_QUEUED))
    return countDropped(repo, waiting, url, secretFile, event);
  const now = Date.now();
  const id = deliveryId();
  const a: QueuedAlert = {
    v: 1,
    id,
    queued: new Date(now).toISOString(),
    url,
    secretFile,
    body: JSON.stringify(event),
    attempts: 0,
    nextAt: now,
  };
  await save(repo, a);
  return a;
}

/**
 * An alert not queued because the outbox is full: counted in the one `alerts-dropped` alert
 * still waiting for this receiver (made the first time, behind all the others, so that it
 * arrives last and says how many never came, between when and when).
 */
async function countDropped(
  repo: Repo,
  waiting: string[],
  url: string,
  secretFile: string,
  event: unknown,
): Promise<QueuedAlert> {
  const tag = `-dropped-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
  const name = waiting.find((n) => n.endsWith(`${tag}.json`));
  const now = new Date().toISOString();
  const a: QueuedAlert = name
    ? (JSON.parse(await fsp.readFile(join(outboxDir(repo), name), 'utf8')) as QueuedAlert)
    : {
        v: 1,
        id: `${deliveryId().slice(0, 15)}${tag}`,
        queued: now,
        url,
        secretFile,
        body: '',
        attempts: 0,
        nextAt: Date.now(),
      };
  const was = name ? (JSON.parse(a.body) as { dropped: number; firstDropped: string }) : undefined;
  const { host, trail } = (event ?? {}) as { host?: unknown; trail?: unknown };
  const dropped = (was?.dropped ?? 0) + 1;
  const first = was?.firstDropped ?? now;
  a.body = JSON.stringify({
    event: 'alerts-dropped',
    ...(host !== undefined ? { host } : {}),
    ...(trail !== undefined ? { trail } : {}),
    dropped,
    firstDropped: first,
    lastDropped: now,
    summary: `${dropped} alert(s) for this receiver were not queued between ${first} and ${now}: ${waiting.length} were already waiting for it (down or refusing); the changes they were about are in the trail (trail log --since ${first.slice(0, 10)})`,
  });
  await save(repo, a);
  return a;
}

/** The queued alerts, oldest first (a file that cannot be read is left for a person to see). */
export async function queuedAlerts(repo: Repo): Promise<QueuedAlert[]> {
  let names: string[];
  try {
    names = (await fsp.readdir(outboxDir(repo))).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: QueuedAlert[] = [];
  for (const n of names) {
    try {
      const a = JSON.parse(await fsp.readFile(join(outboxDir(repo), n), 'utf8')) as QueuedAlert;
      if (a.v === 1 && `${a.id}.json` === n) out.push(a);
    } catch {
      /* gone meanwhile (delivered by another process), or torn: not ours to judge here */
    }
  }
  return out;
}

/** Sends what is due, first in first out per receiver (URL): an alert goes only after every
 * older one to its URL, in the same round. A URL is due when any alert to it is: one that
 * failed and whose next try has come, or a new one (it is sent at once, after the older ones
 * it brings along). Its alerts go oldest first, each right after the one before got through
 * (those waiting for a later try too: the receiver is back); at the first that does not, the
 * URL is done for the round (one that hangs holds a round 10 s, not 10 s per alert), and those
 * behind it wait as long as it does. A success at one receiver says nothing about another:
 * each URL keeps its own schedule, and they are sent side by side, so one that hangs holds up
 * no other. What each got: those tried, and those left behind one that failed (`waitsBehind`). */
export async function deliverDue(repo: Repo, o: { now?: number } = {}): Promise<Map<string, Delivery>> {
  const now = o.now ?? Date.now();
  const results = new Map<string, Delivery>();
  const byUrl = new Map<string, QueuedAlert[]>();
  for (const a of await queuedAlerts(repo)) {
    const q = byUrl.get(a.url);
    if (q) q.push(a);
    else byUrl.set(a.url, [a]);
  }
  await Promise.all(
    [...byUrl.values()].filter((q) => q.some((a) => a.nextAt <= now)).map((q) => deliver(repo, q, results)),
  );
  return results;
}

/** The receiver answered, and refused this alert itself (not 408 timeout, 425, 429 slow down). */
function refusedAsSuch(d: Delivery): boolean {
  return d.status !== undefined && d.status >= 400 && d.status < 500 && ![408, 425, 429].includes(d.status);
}

/** One URL's alerts, oldest first, until one is not taken (see refusedAsSuch). */
async function deliver(repo: Repo, queue: QueuedAlert[], results: Map<string, Delivery>): Promise<void> {
  for (const [i, a] of queue.entries()) {
    const d = await post(a);
    results.set(a.id, d);
    if (d.ok) {
      await fsp.rm(join(outboxDir(repo), `${a.id}.json`), { force: true });
      continue;
    }
    a.attempts++;
    a.nextAt = Date.now() + retryDelayMs(a.attempts);
    a.lastProblem = d.problem ?? `the receiver answered ${d.status}`;
    // Delivered meanwhile by another process (its file gone): not written back.
    if (await exists(repo, a)) await save(repo, a);
    // Refused for what it is (a 4xx but a timeout or a rate limit: too large, say), it waits
    // alone: holding the others behind an alert the receiver may never take would lose them all.
    if (refusedAsSuch(d)) continue;
    // Those behind it are not sent before it: they wait for its next try (a new one, due
    // now, would otherwise start another round at once, and go first if that one got through).
    for (const b of queue.slice(i + 1)) {
      results.set(b.id, { ok: false, problem: `not sent: waits behind ${a.id} (${a.lastProblem})`, waitsBehind: a.id });
      if (b.nextAt >= a.nextAt) continue;
      b.nextAt = a.nextAt;
      if (await exists(repo, b)) await save(repo, b);
    }
    return;
  }
}

/** What waits in the outbox, for status and doctor. */
export async function outboxState(
  repo: Repo,
): Promise<{ waiting: number; oldest: string | null; lastProblem: string | null }> {
  const all = await queuedAlerts(repo);
  const last = all.filter((a) => a.lastProblem).at(-1);
  return { waiting: all.length, oldest: all[0]?.queued ?? null, lastProblem: last?.lastProblem ?? null };
}

/** One try, for an alert that could not be queued (a full disk): better once than never. */
export function sendOnce(url: string, secretFile: string, event: unknown): Promise<Delivery> {
  return post({
    id: deliveryId(),
    url,
    secretFile,
    body: JSON.stringify(event),
  });
}

async function post(a: Pick<QueuedAlert, 'id' | 'url' | 'secretFile' | 'body'>): Promise<Delivery> {
  let key: Buffer;
  try {
    key = await readSecretFile(a.secretFile);
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  const signature = 'sha256=' + createHmac('sha256', key).update(a.body).digest('hex');
  try {
    // Loaded here: `trail status` reads the outbox at every run, and node:http(s) is ~10 ms.
    const { httpRequest } = await import('../util/http-client.js');
    const res = await httpRequest(a.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'trail',
        'x-trail-event': 'alert',
        'x-trail-delivery': a.id,
        'x-trail-signature-256': signature,
      },
      body: a.body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      // Not followed: a 301/302 turns the POST into a GET without its body, whose 200 would
      // have counted as delivered (the alert removed, never seen); a 307/308 would send the
      // signed alert wherever the answer points. The receiver must be named by its real URL.
      redirect: 'manual',
    });
    const ok = res.status >= 200 && res.status < 300;
    if (ok) return { ok, status: res.status };
    const to = res.status >= 300 && res.status < 400 ? res.headers.location : undefined;
    const problem = `the receiver answered ${res.status}${to === undefined ? '' : `, a redirect to ${to} (not followed: set alert.webhook to the URL that takes the alert)`}`;
    return { ok, status: res.status, problem };
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
}

async function save(repo: Repo, a: QueuedAlert): Promise<void> {
  await writeFileAtomic(join(outboxDir(repo), `${a.id}.json`), JSON.stringify(a) + '\n', { mode: 0o600 });
}

async function exists(repo: Repo, a: QueuedAlert): Promise<boolean> {
  return fsp.access(join(outboxDir(repo), `${a.id}.json`)).then(
    () => true,
    () => false,
  );
}

/** A key file must be private: readable by its owner only. */
export async function readSecretFile(file: string): Promise<Buffer> {
  const st = await fsp.stat(file);
  if (st.mode & 0o077)
    throw new Error(`${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); make it 0600`);
  return Buffer.from((await fsp.readFile(file, 'utf8')).trim());
}

/** Per repository, a deliverer that sends queued alerts in the background (trail watch): a
 * process that has one only queues, and does not wait for the receiver under its lock. */
const deliverers = new Map<string, () => void>();

export function deliverInBackground(repo: Repo, poke: (() => void) | undefined): void {
  if (poke) deliverers.set(repo.gitDir, poke);
  else deliverers.delete(repo.gitDir);
}

export function backgroundDeliverer(repo: Repo): (() => void) | undefined {
  return deliverers.get(repo.gitDir);
}
