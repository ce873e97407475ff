/** One write at a time per repository, in order; a failure does not stop the ones after.
 * Every piece of a RepoWatcher that writes goes through the same queue, so that a reconcile,
 * a window's commit and a log checkpoint never interleave inside the process (the writer
 * lock keeps other processes out). */
export class WriteQueue {
  private chain: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
