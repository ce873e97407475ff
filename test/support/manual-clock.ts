/**
 * A clock and timers that move only when the test says so: code that takes `now` and
 * `timers` (setTimeout/clearTimeout) runs its schedule without the test sleeping, and the
 * test asserts what happened per step, never how long it took.
 */
export class ManualClock {
  t: number;
  private seq = 0;
  private pending = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.now()) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly timers = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = ++this.seq;
      this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (h: unknown): void => {
      this.pending.delete(h as number);
    },
  };

  /** When the earliest timer is due, if any. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const p of this.pending.values()) if (min === undefined || p.at < min) min = p.at;
    return min;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }

  /** Moves time to the earliest timer and fires it (and any due at the same moment). */
  advanceToNext(): boolean {
    const at = this.nextDue();
    if (at === undefined) return false;
    this.advance(Math.max(0, at - this.t));
    return true;
  }
}
