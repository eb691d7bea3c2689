/**
 * Cluster-wide connection counts for `limit-conn` with `policy: "redis"`: INCR on acquire, DECR on
 * release, on keys with a TTL that this gateway refreshes while it holds connections on them, so the
 * counts of a gateway that died expire instead of blocking the key for ever. Commands fail fast
 * (`redis_timeout`, no offline queue); the caller then counts locally. One counter per Redis server and
 * database, shared by every limit-conn instance of the gateway.
 */
import { Redis } from "ioredis";
import type { Logger } from "pino";

export interface RedisCounterOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  database: number;
  timeoutMs: number;
  keyTtlSeconds: number;
}

export class RedisConnCounter {
  private readonly client: Redis;
  /** keys this gateway holds connections on, with how many, for the TTL refresh */
  private readonly held = new Map<string, number>();
  private readonly refreshTimer: ReturnType<typeof setInterval>;
  private down = false;
  /** limit-conn instances using this counter; the last one to go closes it */
  users = 0;

  constructor(
    private readonly options: RedisCounterOptions,
    private readonly logger: Logger,
  ) {
    this.client = new Redis({
      host: options.host,
      port: options.port,
      username: options.username,
      password: options.password,
      db: options.database,
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    // Errors surface through the failed commands; the event would otherwise crash the process.
    this.client.on("error", () => {});
    const refreshMs = Math.max(1000, (options.keyTtlSeconds * 1000) / 3);
    this.refreshTimer = setInterval(() => this.refreshTtls(), refreshMs);
    this.refreshTimer.unref?.();
  }

  /** The count after this connection was added, or `undefined` when Redis cannot answer in time. */
  async acquire(key: string): Promise<number | undefined> {
    try {
      await this.ready();
      const result = await this.client.multi().incr(key).expire(key, this.options.keyTtlSeconds).exec();
      const count = result?.[0]?.[1];
      if (typeof count !== "number") throw new Error("unexpected INCR reply");
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
      this.markUp();
      return count;
    } catch (error) {
      this.markDown(error);
      return undefined;
    }
  }

  /**
   * Commands fail at once while the client is not connected (no offline queue), so the first
   * connections after start wait for the connection in progress, up to `redis_timeout`. While Redis is
   * known to be down (reconnecting) nothing waits.
   */
  private ready(): Promise<void> {
    const status = this.client.status;
    if (status !== "connecting" && status !== "connect") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off("ready", done);
        this.client.off("error", done);
        resolve();
      };
      const timer = setTimeout(done, this.options.timeoutMs);
      this.client.once("ready", done);
      this.client.once("error", done);
    });
  }

  release(key: string): void {
    const left = (this.held.get(key) ?? 1) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
    // A DECR lost while Redis is down is corrected by the key's TTL.
    this.client.decr(key).then(
      () => this.markUp(),
      (error: unknown) => this.markDown(error),
    );
  }

  close(): void {
    clearInterval(this.refreshTimer);
    this.client.disconnect();
  }

  private refreshTtls(): void {
    for (const key of this.held.keys()) {
      this.client.expire(key, this.options.keyTtlSeconds).catch(() => {});
    }
  }

  private markDown(error: unknown): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn(
      { redis: `${this.options.host}:${this.options.port}`, err: (error as Error).message },
      "limit-conn: redis unreachable, counting locally until it is back",
    );
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.info({ redis: `${this.options.host}:${this.options.port}` }, "limit-conn: redis reachable again");
  }
}
