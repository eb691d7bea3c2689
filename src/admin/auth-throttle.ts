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
 * The client's address as the runtime's HTTP server hands it to Hono's `fetch(request, env)`: Node's
 * `@hono/node-server` passes `{ incoming }`, Bun its server (`requestIP`), Deno the connection info
 * (`remoteAddr`). "unknown" when none of them is there (in-process `app.request` in tests).
 */
export function clientAddress(c: Context): string {
  const env = c.env as
    | {
        incoming?: { socket?: { remoteAddress?: string } };
        requestIP?: (request: Request) => { address?: string } | null;
        remoteAddr?: { hostname?: string };
      }
    | undefined;
  return (
    env?.incoming?.socket?.remoteAddress ??
    (typeof env?.requestIP === "function" ? env.requestIP(c.req.raw)?.address : undefined) ??
    env?.remoteAddr?.hostname ??
    "unknown"
  );
}
