/**
 * Cluster-wide connection counts for `limit-conn` with `policy: "redis"`: an atomic INCR+EXPIRE on
 * acquire and a DECR that never goes below zero on release, on keys with a TTL that this gateway
 * refreshes while it holds connections on them, so the counts of a gateway that died expire instead of
 * blocking the key for ever. A Redis restart loses the counts of connections still open; their releases
 * then find the key at zero and leave it there, so the limit is never widened by a negative count.
 * Commands fail fast (`redis_timeout`); the caller then counts locally. The clients speak RESP over the
 * gateway's socket adapter. One counter per Redis server and database (`policy: "redis"`) or per
 * cluster (`policy: "redis-cluster"`, each key on its slot's node), shared by every limit-conn instance
 * of the gateway.
 */
import type { Logger } from "pino";
import { timerDelay } from "../timer-delay.ts";
import type { RespValue } from "./resp-client.ts";

/** Where the counts live: one Redis server, or a Redis Cluster that sends each key to its slot's node. */
export interface CountStore {
  /** runs a command whose only key is `key` */
  command(key: string, args: readonly (string | number)[]): Promise<RespValue>;
  close(): void;
}

export interface RedisCounterOptions {
  keyTtlSeconds: number;
  /** names the Redis server or cluster in log lines */
  label: string;
}

const ACQUIRE = "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return n";
const RELEASE =
  "local n = tonumber(redis.call('GET', KEYS[1]) or '0') if n > 0 then return redis.call('DECR', KEYS[1]) end return 0";

export class RedisConnCounter {
  /** keys this gateway holds connections on, with how many, for the TTL refresh */
  private readonly held = new Map<string, number>();
  private readonly refreshTimer: ReturnType<typeof setInterval>;
  private down = false;
  /** limit-conn instances using this counter; the last one to go closes it */
  users = 0;

  constructor(
    private readonly client: CountStore,
    private readonly options: RedisCounterOptions,
    private readonly logger: Logger,
  ) {
    const refreshMs = Math.max(1000, (options.keyTtlSeconds * 1000) / 3);
    this.refreshTimer = setInterval(() => this.refreshTtls(), timerDelay(refreshMs));
    this.refreshTimer.unref?.();
  }

  /** The count after this connection was added, or `undefined` when Redis cannot answer in time. */
  async acquire(key: string): Promise<number | undefined> {
    try {
      const count = await this.client.command(key, ["EVAL", ACQUIRE, 1, key, this.options.keyTtlSeconds]);
      if (typeof count !== "number") throw new Error("unexpected INCR reply");
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
      this.markUp();
      return count;
    } catch (error) {
      this.markDown(error);
      return undefined;
    }
  }

  release(key: string): void {
    const left = (this.held.get(key) ?? 1) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
    // A DECR lost while Redis is down is corrected by the key's TTL.
    this.client.command(key, ["EVAL", RELEASE, 1, key]).then(
      () => this.markUp(),
      (error: unknown) => this.markDown(error),
    );
  }

  close(): void {
    clearInterval(this.refreshTimer);
    this.client.close();
  }

  private refreshTtls(): void {
    for (const key of this.held.keys()) {
      this.client.command(key, ["EXPIRE", key, this.options.keyTtlSeconds]).catch(() => {});
    }
  }

  private markDown(error: unknown): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn(
      { redis: this.options.label, err: (error as Error).message },
      "limit-conn: redis unreachable, counting locally until it is back",
    );
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.info({ redis: this.options.label }, "limit-conn: redis reachable again");
  }
}
