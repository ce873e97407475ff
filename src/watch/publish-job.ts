import { Publisher } from '../act/publish/publisher.js';
import { remoteFrom } from '../act/review/remote.js';
import type { Config } from '../record/repo/settings.js';
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
  /** The settings the publisher was made from (publishSettings). */
  private settings = '';

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

  /** A remote set, changed or removed since (or its push delay, its alert delay): start over
   * with the new settings. A round in flight is abandoned, not waited for (a hung remote would
   * hold the reload for minutes); the new publisher's start pushes what it carried. Any other
   * setting — every `trail config set` reloads — leaves the publisher and its push alone. */
  async reload(): Promise<void> {
    if (publishSettings(this.ctx.config(), this.ctx.watched.name) === this.settings) return;
    await this.pub?.stop({ why: 'reload' });
    await this.open();
  }

  private async open(): Promise<void> {
    this.settings = publishSettings(this.ctx.config(), this.ctx.watched.name);
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

/** What a publisher is made of, as one string: two settings that give the same publish alike
 * (Publisher.forRepo reads these; the token is read at each round). */
export function publishSettings(config: Config, name: string): string {
  let remote;
  try {
    remote = remoteFrom(config, name) ?? null;
  } catch (err) {
    remote = `invalid: ${(err as Error).message}`;
  }
  return JSON.stringify([
    remote,
    config['remote.pushDelaySeconds'] ?? null,
    config['remote.alertAfterSeconds'] ?? null,
  ]);
}
