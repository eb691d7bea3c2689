/**
 * The status server of every sluice process: `/healthz` (liveness: the process runs and answers),
 * `/readyz` (200 only while the process serves: its config applied, its storage answering, not shutting
 * down; otherwise 503 with the reason), `/metrics` (and the APISIX alias
 * `/apisix/prometheus/metrics`) from the process's own registry, and `/status` (JSON).
 *
 * A plain handler, not a Hono app with fetch `Request`/`Response` objects: on Node those classes are
 * undici's, whose first use loads it (about 13 MiB of a data plane's idle RSS), and `sluice gateway`
 * needs no other HTTP server. Each runtime serves it with its own server (`RuntimeEdge.serveStatus`).
 */

/** An answer of a plain handler: no fetch `Response` object (see `serveStatus`). */
export interface PlainResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** `path` is the request's path without its query */
export type PlainHandler = (method: string, path: string) => Promise<PlainResponse>;

/** A plain handler as a fetch handler, for runtimes whose HTTP server takes one (Bun, Deno). */
export function plainAsFetch(handler: PlainHandler): (request: Request) => Promise<Response> {
  return async (request) => {
    const answer = await handler(request.method, new URL(request.url).pathname);
    return new Response(request.method === "HEAD" ? null : answer.body, {
      status: answer.status,
      headers: { "content-type": answer.contentType },
    });
  };
}

export interface StatusSource {
  /** undefined while the process serves; otherwise why it does not (`/readyz` answers 503 with it) */
  notReady(): string | undefined | Promise<string | undefined>;
  status(): Record<string, unknown>;
  metricsText(): Promise<string>;
  /** the exposition's content type (prom-client's `Registry.contentType`) */
  metricsContentType: string;
}

const JSON_TYPE = "application/json";

function json(value: unknown, status = 200): PlainResponse {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

export function statusHandler(source: StatusSource): PlainHandler {
  return async (method, path) => {
    if (method !== "GET" && method !== "HEAD") return json({ error_msg: "method not allowed" }, 405);
    switch (path) {
      case "/healthz":
        return json({ status: "ok" });
      case "/readyz": {
        const reason = await source.notReady();
        if (reason === undefined) return json({ ready: true, ...source.status() });
        return json({ ready: false, reason, ...source.status() }, 503);
      }
      case "/status":
        return json(source.status());
      case "/metrics":
      case "/apisix/prometheus/metrics":
        return { status: 200, contentType: source.metricsContentType, body: await source.metricsText() };
      default:
        return json({ error_msg: "not found" }, 404);
    }
  };
}
