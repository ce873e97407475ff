import { promises as fsp, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { asNumber, type Config } from '../record/repo/settings.js';
import { checkpointLogs, logSelector, type CheckpointResult, type LiveHashes } from '../logs/index.js';
import { stateFile } from '../logs/state.js';
import { alertLogIncidents } from '../act/log-alert.js';
import { Debouncer } from './debouncer.js';
import { maxDelayMs, quietMs } from './event-window.js';
import type { Job, WatchContext } from './job.js';

/** How often tracked logs are checkpointed to refs/trail/logs. */
export function checkpointSeconds(config: Config): number {
  return asNumber(config['logs.checkpointSeconds'], 60);
}

/** Which of the touched paths belong to a log (grouped by log), and which do not. Pure. */
export function splitLogPaths(
  paths: string[],
  logOf: (p: string) => string | undefined,
): { logs: Set<string>; rest: string[] } {
  const logs = new Set<string>();
  const rest: string[] = [];
  for (const p of paths) {
    const l = logOf(p);
    if (l === undefined) rest.push(p);
    else logs.add(l);
  }
  return { logs, rest };
}

/**
 * Follows the tracked logs (src/logs) of one watched directory. Their writes are not commits
 * of the event window: the RepoWatcher hands this follower every touched path that belongs to
 * a log. Then:
 * - at start, every log the rules name is checked in full and taken into tracking;
 * - on a log's events, once it has been quiet for watch.quietMs (at most watch.maxDelayMs),
 *   what was appended is read and hashed, so the verified prefix follows the file; a
 *   truncation, a rewrite or a replacement is found there and then (committed and alerted);
 * - every logs.checkpointSeconds the state of all of them is committed to refs/trail/logs;
 * - a log taken in by another command (`config set logs.paths`, `policy set`) is followed
 *   from the moment its state file changes.
 */
export class LogFollower implements Job {
  readonly name = 'log-follower';
  private timer: NodeJS.Timeout | undefined;
  /** Running hashes of the tracked logs: each look then reads only what was appended. */
  private readonly live: LiveHashes = new Map();
  private logOf: (p: string) => string | undefined = () => undefined;
  private readonly debouncer: Debouncer;
  private stateWatch: FSWatcher | undefined;
  /** The state file as this follower last wrote or read it: a change by someone else is new. */
  private stateSeen = '';

  constructor(private readonly ctx: WatchContext) {
    const c = ctx.config();
    this.debouncer = new Debouncer(quietMs(c), maxDelayMs(c), (b) => void this.ctx.serial(() => this.follow(b.paths)));
  }

  /** Before the event source starts: from then on its events on logs come here. */
  async init(): Promise<void> {
    await this.refresh();
    const dir = dirname(stateFile(this.ctx.repo));
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      this.stateWatch = watch(dir, { persistent: false }, (_t, name) => {
        if (String(name) === 'state.json') void this.foreignChange();
      });
      this.stateWatch.on('error', () => undefined);
    } catch {
      /* then logs configured meanwhile are followed from the next reload or checkpoint */
    }
  }

  /** The paths this follower takes; the rest is for the event window. */
  claim(paths: string[]): string[] {
    const { logs, rest } = splitLogPaths(paths, this.logOf);
    if (logs.size && !this.ctx.stopped()) this.debouncer.add(logs);
    return rest;
  }

  async start(): Promise<void> {
    // Taken into tracking when watching starts, not at the first periodic checkpoint.
    await this.ctx.serial(() => this.run(() => checkpointLogs(this.ctx.repo, { live: this.live })));
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.debouncer.take();
    this.stateWatch?.close();
  }

  async reload(): Promise<void> {
    const c = this.ctx.config();
    this.debouncer.setTimes(quietMs(c), maxDelayMs(c));
    await this.ctx.serial(() => this.run(() => checkpointLogs(this.ctx.repo, { live: this.live })));
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.ctx.stopped()) return;
    this.timer = setTimeout(
      () =>
        void this.ctx.serial(async () => {
          await this.run(() => checkpointLogs(this.ctx.repo, { live: this.live }));
          this.arm();
        }),
      checkpointSeconds(this.ctx.config()) * 1000,
    );
  }

  private async follow(paths: Set<string>): Promise<void> {
    if (this.ctx.stopped()) return;
    await this.run(() => checkpointLogs(this.ctx.repo, { live: this.live, paths: [...paths].sort(), follow: true }));
  }

  /** One look (a checkpoint, or following some logs), under the writer lock; then what it
   * found is logged and alerted. Call from inside the write queue. */
  private async run(look: () => Promise<CheckpointResult>): Promise<void> {
    const { ctx } = this;
    let r: CheckpointResult;
    try {
      r = await ctx.withLock(ctx.repo, 'logs', async () => {
        const res = await look();
        this.stateSeen = await this.stateStamp();
        return res;
      });
    } catch (err) {
      ctx.log('error', 'logs-failed', `log checkpoint failed: ${(err as Error).message}`);
      return;
    }
    for (const n of r.notes) ctx.log('info', 'log-rotation', n);
    for (const i of r.incidents)
      ctx.log('warning', 'log-alert', i.summary, { path: i.path, kind: i.kind, commit: r.commit });
    // Recorded first, then told; never in the way of the next write.
    if (r.incidents.length)
      void alertLogIncidents(ctx.repo, r.incidents).catch((err: Error) =>
        ctx.log('error', 'alert-failed', `could not send the log alert: ${err.message}`),
      );
    await this.refresh();
  }

  /** Which paths are logs, as the settings, the policy and the state say now. */
  private async refresh(): Promise<void> {
    try {
      this.logOf = await logSelector(this.ctx.repo);
    } catch (err) {
      this.ctx.log('warning', 'logs-failed', `could not read which logs are tracked: ${(err as Error).message}`);
    }
  }

  private async stateStamp(): Promise<string> {
    const st = await fsp.stat(stateFile(this.ctx.repo)).catch(() => undefined);
    return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : '';
  }

  /** Another command wrote the state (a log configured and taken in): follow it from now. */
  private async foreignChange(): Promise<void> {
    if (this.ctx.stopped() || (await this.stateStamp()) === this.stateSeen) return;
    await this.ctx.serial(async () => {
      this.stateSeen = await this.stateStamp();
      await this.refresh();
    });
  }
}
