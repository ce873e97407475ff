/**
 * How long to wait before the next push after `failures` failed ones in a row: doubling from
 * `baseMs` up to `capMs`, with jitter (a random half of it) so that a fleet of hosts whose
 * remote came back does not push in lockstep. Never below `minMs`, the batching delay: a
 * retry is a push like any other.
 */
export function backoffDelay(
  failures: number,
  { baseMs = 2000, capMs = 300_000, minMs = 0 }: { baseMs?: number; capMs?: number; minMs?: number } = {},
  random: () => number = Math.random,
): number {
  const full = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.max(minMs, Math.round(full / 2 + (full / 2) * random()));
}
