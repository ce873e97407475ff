// Talks to one calendar: POST /digest and GET /timestamp/<hex>, through boundedFetch (Node's
// fetch with deadlines and a size cap; no `request`, see bounded-fetch.ts for proxies). The
// answers are parsed with the OpenTimestamps format code and checked before they are used,
// all measured against test/support/ots-calendar.ts:
// - A calendar that holds the connection, dribbles bytes or sends more than 10,000 bytes
//   (the reference client's limit) fails alone, within its deadlines; the batch goes on.
// - An answer that does not parse, or parses but carries no attestation, is that calendar's
//   failure, never merged as if it were a stamp. That includes its shape: an answer nested a
//   few thousand ops deep parses, then overflows the stack when the batch's proofs are
//   serialized (every batch, since the calendar counted as answering).
import { ots, isBitcoin, isPending, quietPackageSync, type OtsTimestamp } from './ots-package.js';
import { checkTimestamp, ProofError } from './proof-tree.js';
import { boundedFetch, FetchError, type FetchAnswer, type FetchOptions } from './bounded-fetch.js';

export class CalendarError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`calendar ${url}: ${reason}`);
    this.name = 'CalendarError';
  }
}

/** The reference clients' cap on a calendar's answer (python-opentimestamps: 10000). */
const MAX_ANSWER_BYTES = 10_000;

const HEADERS = { Accept: 'application/vnd.opentimestamps.v1', 'User-Agent': 'trail' };

/** Node keeps HTTP connections alive; a connection the calendar closed while we were busy
 * (measured: upgrading 10,000 proofs parses for ~3 s, past the stub's 5 s keep-alive after
 * the stamp) can fail at once with a reset when reused. That is no answer from the
 * calendar, so it is asked once more on a fresh connection (both requests are idempotent
 * for the calendar: a digest submitted twice is simply stamped twice). */
async function ask(url: string, opts: FetchOptions): Promise<FetchAnswer> {
  try {
    return await boundedFetch(url, opts);
  } catch (err) {
    if (err instanceof FetchError && err.reason.startsWith('connection reset')) return boundedFetch(url, opts);
    throw err;
  }
}

function endpoint(base: string, path: string): string {
  // The calendars serve at their root (options.ts refuses a path): same as new URL(path, base).
  return new URL(path, base).toString();
}

/** An HTTP error body, as one bounded printable line. */
function said(a: FetchAnswer): string {
  const text = a.body
    .toString('latin1')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
    .slice(0, 200);
  return `HTTP ${a.status}${text ? `: ${text}` : ''}`;
}

function parse(body: Buffer, root: number[]): OtsTimestamp {
  const O = ots();
  return quietPackageSync(() => O.Timestamp.deserialize(new O.Context.StreamDeserialization(body), root));
}

/** POST /digest: a timestamp rooted at `digest` that ends in at least one attestation. */
export async function submitDigest(url: string, digest: Buffer, timeoutMs: number): Promise<OtsTimestamp> {
  let answer: FetchAnswer;
  try {
    answer = await ask(endpoint(url, '/digest'), {
      method: 'POST',
      headers: { ...HEADERS, 'Content-Type': 'application/octet-stream' },
      body: digest,
      timeoutMs,
      maxBytes: MAX_ANSWER_BYTES,
    });
  } catch (err) {
    throw new CalendarError(url, err instanceof FetchError ? err.reason : String(err));
  }
  if (answer.status !== 200) throw new CalendarError(url, said(answer));
  let t: OtsTimestamp;
  try {
    t = parse(answer.body, Array.from(digest));
    checkTimestamp(t);
  } catch (err) {
    throw new CalendarError(url, `answer is not an OpenTimestamps timestamp (${(err as Error).message})`);
  }
  const atts = [...t.getAttestations()];
  if (!Buffer.from(t.msg).equals(digest)) throw new CalendarError(url, 'answer is rooted at another digest');
  if (!atts.some((a) => isPending(a) || isBitcoin(a)))
    throw new CalendarError(url, 'answer carries no pending or Bitcoin attestation');
  return t;
}

export type UpgradeAnswer =
  | { kind: 'upgraded'; timestamp: OtsTimestamp }
  | { kind: 'pending' }
  | { kind: 'unknown' } // the calendar does not know this commitment
  | { kind: 'error'; reason: string };

/** GET /timestamp/<hex>: the continuation of a pending proof, once it is in a block. */
export async function fetchUpgrade(url: string, commitment: number[], timeoutMs: number): Promise<UpgradeAnswer> {
  let answer: FetchAnswer;
  try {
    answer = await ask(endpoint(url, '/timestamp/' + Buffer.from(commitment).toString('hex')), {
      headers: HEADERS,
      timeoutMs,
      maxBytes: MAX_ANSWER_BYTES,
    });
  } catch (err) {
    return { kind: 'error', reason: err instanceof FetchError ? err.reason : String(err) };
  }
  // The reference server: 404 "Pending confirmation in Bitcoin blockchain" while it waits
  // for a block, 404 "Not found" for a commitment it never saw.
  if (answer.status === 404)
    return /pending/i.test(answer.body.toString('latin1')) ? { kind: 'pending' } : { kind: 'unknown' };
  if (answer.status !== 200) return { kind: 'error', reason: said(answer) };
  try {
    const t = parse(answer.body, commitment);
    checkTimestamp(t);
    if (![...t.getAttestations()].some(isBitcoin)) return { kind: 'pending' };
    return { kind: 'upgraded', timestamp: t };
  } catch (err) {
    const why = err instanceof ProofError ? err.message : String((err as Error)?.message ?? err);
    return { kind: 'error', reason: `answer is not an OpenTimestamps timestamp (${why})` };
  }
}
