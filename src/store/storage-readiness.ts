/**
 * Whether the control plane's storage answers, for `/readyz`: a process whose database refuses
 * connections cannot serve the admin API or a gateway's config, so a load balancer should stop sending to
 * it. One `select 1` at a time, bounded by a short timeout, and its answer kept for a second, so that
 * probes from several load balancers never add up to load on the database.
 */
import type { Database } from "./database.ts";

export interface StorageReadinessOptions {
  /** how long one `select 1` may take before storage counts as unreachable; default 2 s */
  timeoutMs?: number;
  /** how long an answer is reused; default 1 s */
  cacheMs?: number;
}

export class StorageReadiness {
  readonly #database: Pick<Database, "ping">;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #answer: { at: number; problem: string | undefined } | undefined;
  #inFlight: Promise<string | undefined> | undefined;

  constructor(database: Pick<Database, "ping">, options: StorageReadinessOptions = {}) {
    this.#database = database;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#cacheMs = options.cacheMs ?? 1_000;
  }

  /** undefined when storage answered within the timeout; otherwise why it is not usable */
  problem(): Promise<string | undefined> {
    if (this.#answer && Date.now() - this.#answer.at < this.#cacheMs) return Promise.resolve(this.#answer.problem);
    this.#inFlight ??= this.#probe().then((problem) => {
      this.#answer = { at: Date.now(), problem };
      this.#inFlight = undefined;
      return problem;
    });
    return this.#inFlight;
  }

  async #probe(): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`storage did not answer within ${this.#timeoutMs} ms`), this.#timeoutMs);
    });
    const answered = this.#database.ping().then(
      () => undefined,
      (error: Error) => `storage unreachable: ${storageErrorText(error)}`,
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The error's kind and message. A failed connection's message names the server or the database, never a
 * query's parameters (the probe has none).
 */
function storageErrorText(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" ? `${code} ${error.message}` : error.message;
}
