// Check 3: silence. A host's daemon writes a checkpoint every few minutes; a gap between two
// checkpoints longer than --max-silence, or a newest checkpoint older than that, means nobody
// can vouch for the host in that span. Times come from outside the host: GitHub's push
// timestamps (activity) when the API has them, else the witness's own fetches, which bound
// when a checkpoint arrived (after the previous fetch, no later than the one that saw it).
// The host's own clock is reported too but never the only ground: it can be set to anything.
// Because arrival times are kept per checkpoint, a run that comes late (a delayed or dropped
// scheduled job) still finds every gap in between.
import type { Reason } from './checkpoint-record.js';
import { duration, iso, type NewFinding } from './findings.js';
import type { Where } from './ancestry-checker.js';

export interface Point {
  id: string;
  seq: number;
  reason: Reason;
  /** host clock, ms */
  hostTime: number;
  /** reached GitHub no later than this (exact when from activity), ms */
  arrival: number;
  /** and no earlier than this (undefined: unknown, e.g. the witness's first look) */
  earliest?: number;
  arrivalFrom: 'activity' | 'fetch';
}

function when(p: Point): string {
  return p.arrivalFrom === 'activity'
    ? `reached GitHub at ${iso(p.arrival)} (GitHub's activity)`
    : `reached GitHub ${p.earliest !== undefined ? `between ${iso(p.earliest)} and ` : 'by '}${iso(p.arrival)} (the witness's fetches)`;
}

/** Gaps between consecutive points (oldest first; the first may be the last accepted one). */
export function silenceGaps(w: Where, ref: string, points: Point[], maxSilence: number): NewFinding[] {
  const out: NewFinding[] = [];
  const limit = maxSilence * 1000;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const low = b.arrivalFrom === 'activity' ? b.arrival : b.earliest;
    const outside = low !== undefined ? low - a.arrival : undefined;
    const host = b.hostTime - a.hostTime;
    const outsideTooLong = outside !== undefined && outside > limit;
    if (!outsideTooLong && !(host > limit)) continue;
    const daemon =
      b.reason === 'start-after-crash'
        ? ' The next checkpoint says the daemon started again after an unclean stop (killed or crashed).'
        : b.reason === 'start'
          ? ` The previous checkpoint's reason was "${a.reason}"; the daemon then started again.`
          : '';
    // Written on time by the host's clock, yet it reached GitHub long after: the host held its
    // evidence back, and what is held back can be rewritten and signed again before it leaves.
    const arrivedAfter = low !== undefined ? low - b.hostTime : undefined;
    const heldBack =
      arrivedAfter !== undefined && arrivedAfter > limit
        ? ` Checkpoint ${b.seq} says it was written at ${iso(b.hostTime)} by the host's clock, yet it reached GitHub ${duration(arrivedAfter / 1000)} later: the host held it back, and a checkpoint held on the host can be rewritten and signed again before it leaves, so it vouches for nothing before it arrived.`
        : '';
    out.push({
      key: `gap|${w.repository}|${ref}|${a.seq}|${b.seq}`,
      kind: 'silence-gap',
      severity: 'finding',
      event: true,
      ...w,
      ref,
      commits: [a.id, b.id],
      times: {
        lastBeforeArrived: iso(a.arrival),
        ...(low !== undefined ? { nextArrivedNoEarlierThan: iso(low) } : {}),
        nextArrivedBy: iso(b.arrival),
        hostTimeBefore: iso(a.hostTime),
        hostTimeNext: iso(b.hostTime),
      },
      title: `${w.host}/${w.name} was silent for ${duration(Math.max(outside ?? 0, host) / 1000)} (checkpoints ${a.seq} → ${b.seq})`,
      message:
        `Checkpoint ${a.seq} ${when(a)}; the next one, ${b.seq}, ${when(b)}. ` +
        (outsideTooLong
          ? `By times from outside the host that is at least ${duration(outside! / 1000)} without a checkpoint, `
          : `By the host's own clock (${iso(a.hostTime)} → ${iso(b.hostTime)}) that is ${duration(host / 1000)} without a checkpoint, `) +
        `longer than the limit of ${duration(maxSilence)}: in that span nothing vouches that the host was watched.${heldBack}${daemon}`,
    });
  }
  return out;
}

/** The newest checkpoint older than the limit: the host is silent now. */
export function silentNow(
  w: Where,
  ref: string,
  newest: Point,
  maxSilence: number,
  now: number,
): NewFinding | undefined {
  const age = now - newest.arrival;
  if (age <= maxSilence * 1000) return undefined;
  const stopped = newest.reason === 'stop' ? ' Its last checkpoint says the daemon was stopped cleanly.' : '';
  return {
    key: `silent|${w.repository}|${w.host}/${w.name}`,
    kind: 'silent',
    severity: 'finding',
    event: false,
    ...w,
    ref,
    commits: [newest.id],
    times: { lastCheckpointArrivedBy: iso(newest.arrival), checkedAt: iso(now) },
    title: `${w.host}/${w.name} not heard from for ${duration(age / 1000)}`,
    message:
      `The newest checkpoint of ${w.host}/${w.name} (sequence ${newest.seq}) ${when(newest)}; nothing since, for ${duration(age / 1000)} ` +
      `(limit ${duration(maxSilence)}). The daemon is stopped, killed, cut off from GitHub, or the host is down.${stopped}`,
  };
}
