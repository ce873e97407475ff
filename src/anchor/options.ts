/** Anchoring settings; the config keys are anchor.calendars, anchor.minCalendars,
 * anchor.batchSeconds, anchor.esplora (and anchor.timeoutMs). */
export interface AnchorOptions {
  /** calendar (aggregator) URLs to submit to; served at the URL's root */
  calendars: string[];
  /** how many calendars must answer for a batch to count as stamped */
  minCalendars: number;
  /** the batch window: new commits wait at most this long to be stamped together */
  batchSeconds: number;
  /** esplora-style explorer API used by verify (GET /block-height/N, GET /block/HASH) */
  esplora: string;
  /** per request, for calendars and the explorer */
  timeoutMs: number;
}

/** The public OpenTimestamps aggregators (the package's own default list). */
export const DEFAULT_CALENDARS = [
  'https://a.pool.opentimestamps.org',
  'https://b.pool.opentimestamps.org',
  'https://a.pool.eternitywall.com',
  'https://ots.btc.catallaxy.com',
];

export const DEFAULT_ANCHOR_OPTIONS: AnchorOptions = {
  calendars: DEFAULT_CALENDARS,
  minCalendars: 2,
  batchSeconds: 300,
  esplora: 'https://blockstream.info/api',
  timeoutMs: 10_000,
};

export function checkAnchorOptions(o: AnchorOptions): void {
  if (o.calendars.length === 0) throw new Error('anchor.calendars is empty: at least one calendar URL is needed');
  for (const c of o.calendars) {
    const u = new URL(c); // throws a clear "Invalid URL" on garbage
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(`anchor.calendars: ${c} is not an http(s) URL`);
    // The client posts to new URL('/digest', base), which drops any path of the base URL.
    if (u.pathname !== '/' && u.pathname !== '')
      throw new Error(`anchor.calendars: ${c} has a path; calendars are served at the root of their URL`);
  }
  if (!Number.isInteger(o.minCalendars) || o.minCalendars < 1 || o.minCalendars > o.calendars.length) {
    throw new Error(
      `anchor.minCalendars must be between 1 and the number of calendars (${o.calendars.length}), got ${o.minCalendars}`,
    );
  }
  if (!(o.batchSeconds >= 0)) throw new Error(`anchor.batchSeconds must be ≥ 0, got ${o.batchSeconds}`);
  if (!(o.timeoutMs > 0)) throw new Error(`anchor.timeoutMs must be > 0, got ${o.timeoutMs}`);
}

/** The anchor.* settings out of trail's config (a plain key → value record, so that anchor/
 * does not depend on record/). Unset keys take the defaults above. minCalendars is capped at
 * the number of calendars: the default of 2 must not break a single-calendar setup. */
export function anchorOptionsFromConfig(cfg: Record<string, unknown>): AnchorOptions {
  const d = DEFAULT_ANCHOR_OPTIONS;
  const list = (v: unknown) =>
    Array.isArray(v)
      ? v.map(String)
      : typeof v === 'string' && v
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
  const num = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v)
      ? v
      : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
        ? Number(v)
        : undefined;
  const calendars = list(cfg['anchor.calendars']) ?? d.calendars;
  const o: AnchorOptions = {
    calendars,
    minCalendars: Math.min(num(cfg['anchor.minCalendars']) ?? d.minCalendars, calendars.length),
    batchSeconds: num(cfg['anchor.batchSeconds']) ?? d.batchSeconds,
    esplora:
      typeof cfg['anchor.esplora'] === 'string' && cfg['anchor.esplora']
        ? (cfg['anchor.esplora'] as string)
        : d.esplora,
    timeoutMs: num(cfg['anchor.timeoutMs']) ?? d.timeoutMs,
  };
  checkAnchorOptions(o);
  return o;
}
