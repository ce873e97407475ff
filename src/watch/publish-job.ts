import { Publisher } from '../act/publish/publisher.js';
import type { Job, WatchContext } from './job.js';

/**
 * Gets what trail watch records off the host as it is written (src/act/publish): every
 * commit of the watcher, every checkpoint and every anchoring run tells it, and it pushes all
 * published branches in one push per `remote.pushDelaySeconds`. Without a remote it does
 * nothing. It is stopped last, after the stop checkpoint, so that the final push carries it.
 */
export class PublishJob implements Job {
  readonly name = 'publisher';
  private pub: Publisher | undefined;

  constructor(private readonly ctx: WatchContext) {}

  async start(): Promise<void> {
    await this.open();
  }

  /** Something published moved (a commit, a checkpoint, proofs): push within the delay. */
  notify(): void {
    this.pub?.notify();
  }

  onCommit(): void {
    this.notify();
  }

  /** Jobs stop before the watcher's last commits; the push waits for finish(). */
  stop(): void {}

  /** The last push, bounded (a round in flight is abandoned first: see Publisher.stop), then
   * no more. */
  async finish(): Promise<void> {
    const pub = this.pub;
    this.pub = undefined;
    await pub?.stop({ flush: true });
  }

  /** A remote set, changed or removed since: start over with the new settings. A round in
   * flight is abandoned, not waited for (a hung remote would hold the reload for minutes);
   * the new publisher's start pushes what it carried. */
  async reload(): Promise<void> {
    await this.pub?.stop({ why: 'reload' });
    await this.open();
  }

  private async open(): Promise<void> {
    try {
      this.pub = await Publisher.forRepo(this.ctx.repo, {
        log: (level, event, msg, fields) => this.ctx.log(level, event, msg, fields),
      });
      this.pub?.start();
    } catch (err) {
      this.ctx.log('error', 'publish-failed', `cannot publish: ${(err as Error).message}`);
    }
  }
}
