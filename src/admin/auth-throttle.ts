/**
 * Failed admin authentication, limited per client address: after `limit` failures within `windowMs` an
 * address gets 429 with `Retry-After` on every authenticated request until its oldest failure leaves
 * the window (a sliding log, like nginx `limit_req` with no burst for failures only). Successful
 * requests cost nothing. The table is bounded, so a spray from many addresses cannot grow it without end.
 */
import type { Context } from "hono";

export interface AuthThrottleOptions {
  limit?: number;
  windowMs?: number;
  /** addresses remembered at once; the least recently failing is forgotten first */
  maxAddresses?: number;
  now?: () => number;
}

export class AuthThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.limit = options.limit ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** seconds the address must wait, or 0 when it may try */
  retryAfter(address: string): number {
    const times = this.recent(address);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil((times[0]! + this.windowMs - this.now()) / 1000));
  }

  /** counts a failure; true when it is the one that reached the limit */
  fail(address: string): boolean {
    const times = this.recent(address);
    times.push(this.now());
    // re-inserted last: Map order is then least recently failing first
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
    return times.length === this.limit;
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const since = this.now() - this.windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}

/**
 * What the runtime's HTTP server tells the app of the connection a request came on; each runtime's
 * `serveHttp` (runtime/<name>/http.ts) passes it as Hono's `env`.
 */
export interface RequestConnection {
  clientAddress: string;
}

/** The client's address from the runtime's server; "unknown" in-process (`app.request` without an env). */
export function clientAddress(c: Context): string {
  return (c.env as Partial<RequestConnection> | undefined)?.clientAddress ?? "unknown";
}
