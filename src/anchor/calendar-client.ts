// Talks to one calendar through the package's RemoteCalendar (the reference client's HTTP
// code; it honours HTTP(S)_PROXY/NO_PROXY like the rest of the OTS tooling). Two gaps of
// 0.4.9 are closed here, both measured against test/support/ots-calendar.ts:
// - RemoteCalendar sends `timeout: this.timeout`, which is never set: the package's stamp()
//   waits as long as a calendar holds the connection (measured: 5.07 s against the stub
//   holding 5 s; no upper bound at all for one that never answers). We set the field
//   (request's connect + idle timeout) and add an overall deadline for a calendar that
//   dribbles bytes.
// - An answer that does not parse surfaces as a TypeError from its error handler, and an
//   answer that parses but carries no attestation would be merged as if it were a stamp.
//   Every answer is checked before it is used; a failure is one calendar's failure, never
//   the batch's. That includes its shape: an answer nested a few thousand ops deep parses,
//   then overflows the stack when the batch's proofs are serialized (every batch, since the
//   calendar counted as answering).
import { ots, isBitcoin, isPending, quietPackage, type OtsTimestamp } from './ots-package.js';
import { checkTimestamp, ProofError } from './proof-tree.js';

export class CalendarError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`calendar ${url}: ${reason}`);
    this.name = 'CalendarError';
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, url: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CalendarError(url, `no complete answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; error?: unknown };
  const msg = String(e?.message ?? err);
  if (/ETIMEDOUT|ESOCKETTIMEDOUT/.test(msg)) return `timed out after ${timeoutMs} ms`;
  if (/ECONNREFUSED/.test(msg)) return 'connection refused (calendar down?)';
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) return 'host not found';
  if (e?.name === 'TypeError' || /Deserializ|Unknown operation|Bad|EOF|exceeds/i.test(msg))
    return 'answer is not an OpenTimestamps timestamp';
  // Whatever the server said (HTTP error bodies): one line, bounded, printable.
  return (
    msg
      .replace(/[^\x20-\x7e]+/g, ' ')
      .trim()
      .slice(0, 200) || 'request failed'
  );
}

/** Node keeps HTTP connections alive; a connection the calendar closed while we were busy
 * (measured: upgrading 10,000 proofs parses for ~3 s, past the stub's 5 s keep-alive after
 * the stamp) fails at once with ECONNRESET when reused. That is no answer from the
 * calendar, so it is asked once more on a fresh connection (both requests are idempotent
 * for the calendar: a digest submitted twice is simply stamped twice). */
async function retryOnReset<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (/ECONNRESET|socket hang up/.test(String((err as Error)?.message ?? err))) return fn();
    throw err;
  }
}

function remote(url: string, timeoutMs: number) {
  const cal = new (ots().Calendar.RemoteCalendar)(url);
  cal.timeout = timeoutMs;
  return cal;
}

/** POST /digest: a timestamp rooted at `digest` that ends in at least one attestation. */
export async function submitDigest(url: string, digest: Buffer, timeoutMs: number): Promise<OtsTimestamp> {
  let answer: OtsTimestamp;
  try {
    answer = await quietPackage(() =>
      withDeadline(
        retryOnReset(() => remote(url, timeoutMs).submit(Array.from(digest))),
        timeoutMs * 2,
        url,
      ),
    );
  } catch (err) {
    if (err instanceof CalendarError) throw err;
    throw new CalendarError(url, describe(err, timeoutMs));
  }
  try {
    checkTimestamp(answer);
  } catch (err) {
    throw new CalendarError(url, `answer is not an OpenTimestamps timestamp (${(err as Error).message})`);
  }
  const atts = [...answer.getAttestations()];
  if (!Buffer.from(answer.msg).equals(digest)) throw new CalendarError(url, 'answer is rooted at another digest');
  if (!atts.some((a) => isPending(a) || isBitcoin(a)))
    throw new CalendarError(url, 'answer carries no pending or Bitcoin attestation');
  return answer;
}

export type UpgradeAnswer =
  | { kind: 'upgraded'; timestamp: OtsTimestamp }
  | { kind: 'pending' }
  | { kind: 'unknown' } // the calendar does not know this commitment
  | { kind: 'error'; reason: string };

/** GET /timestamp/<hex>: the continuation of a pending proof, once it is in a block. */
export async function fetchUpgrade(url: string, commitment: number[], timeoutMs: number): Promise<UpgradeAnswer> {
  try {
    const t = await quietPackage(() =>
      withDeadline(
        retryOnReset(() => remote(url, timeoutMs).getTimestamp(commitment)),
        timeoutMs * 2,
        url,
      ),
    );
    checkTimestamp(t);
    if (![...t.getAttestations()].some(isBitcoin)) return { kind: 'pending' };
    return { kind: 'upgraded', timestamp: t };
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e?.name === 'CommitmentNotFoundError') {
      return /pending/i.test(String(e.message)) ? { kind: 'pending' } : { kind: 'unknown' };
    }
    if (err instanceof ProofError)
      return { kind: 'error', reason: `answer is not an OpenTimestamps timestamp (${err.message})` };
    return { kind: 'error', reason: err instanceof CalendarError ? err.reason : describe(err, timeoutMs) };
  }
}
