/**
 * Runs a task one value at a time, latest wins: a value offered while the task runs waits; a newer
 * offer replaces the waiting one, whose callers then settle with the newer value's outcome. The same
 * rule serves every "apply configs in order, never an older after a newer, skip what is already stale"
 * path: the gateway's apply, the gateway sync's config applier, `sluice start`'s in-process feed, and
 * the control plane's per-group config re-reads.
 */
interface Waiter<R> {
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class LatestWinsQueue<T, R> {
  private waiting: { value: T; waiters: Waiter<R>[] } | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly task: (value: T) => Promise<R>) {}

  /** Runs `task(value)` after the running one, unless a newer offer comes first; settles with the outcome. */
  offer(value: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.waiting) {
        this.waiting.value = value;
        this.waiting.waiters.push({ resolve, reject });
      } else this.waiting = { value, waiters: [{ resolve, reject }] };
      this.running ??= this.drain();
    });
  }

  /** true while a task runs or waits */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** resolves once nothing runs or waits */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the caller's `running ??=` assignment land before the loop can end.
    await undefined;
    while (this.waiting) {
      const { value, waiters } = this.waiting;
      this.waiting = undefined;
      try {
        const result = await this.task(value);
        for (const w of waiters) w.resolve(result);
      } catch (error) {
        for (const w of waiters) w.reject(error);
      }
    }
    this.running = undefined;
  }
}
