// The dates commands take (--since, --until), read one way everywhere. git reads any text as
// a date: an unknown word is "now", and "7 dayz ago" lands in the future, so a typo silently
// selected nothing, and a trail that showed nothing looked like a host where nothing happened.
// Only these forms are taken; commands that hand the text to git hand it on as given, which
// git reads the same way.

const UNIT_MS: Record<string, number> = {
  second: 1e3,
  minute: 60e3,
  hour: 3600e3,
  day: 86400e3,
  week: 7 * 86400e3,
  month: 30 * 86400e3,
  year: 365 * 86400e3,
};

/** What the forms look like, for messages. */
export const DATE_FORMS = '2024-05-01, "2024-05-01 13:00", "2 weeks ago", yesterday, today, now or @<unix seconds>';

/** Milliseconds since the epoch of a date in one of DATE_FORMS; undefined when it is none. */
export function parseDate(text: string, now = Date.now()): number | undefined {
  const t = text.trim().toLowerCase();
  const ago = /^(\d+)\s+(second|minute|hour|day|week|month|year)s?\s+ago$/.exec(t);
  if (ago) return now - Number(ago[1]) * UNIT_MS[ago[2]!]!;
  if (t === 'now') return now;
  if (t === 'today' || t === 'yesterday') {
    const d = new Date(now);
    d.setHours(0, 0, 0, 0);
    return d.getTime() - (t === 'yesterday' ? UNIT_MS.day! : 0);
  }
  const unix = /^@(\d{1,12})$/.exec(t);
  if (unix) return Number(unix[1]) * 1000;
  // A calendar date first: Date.parse also takes "1", "x 1" and the like as years.
  if (!/^\d{4}-\d{2}-\d{2}([ t]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(z|[+-]\d{2}:?\d{2})?$/.test(t)) return undefined;
  const ms = Date.parse(t.replace(' ', 'T').toUpperCase());
  return Number.isNaN(ms) ? undefined : ms;
}
