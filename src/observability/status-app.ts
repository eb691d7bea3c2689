/**
 * The status server of every sluice process: `/healthz` (liveness: the process runs and answers),
 * `/readyz` (200 only while the process serves: its config applied, its storage answering, not shutting
 * down; otherwise 503 with the reason), `/metrics` (and the APISIX alias
 * `/apisix/prometheus/metrics`) from the process's own registry, and `/status` (JSON).
 */
import { Hono } from "hono";

export interface StatusSource {
  /** undefined while the process serves; otherwise why it does not (`/readyz` answers 503 with it) */
  notReady(): string | undefined | Promise<string | undefined>;
  status(): Record<string, unknown>;
  metricsText(): Promise<string>;
  /** the exposition's content type (prom-client's `Registry.contentType`) */
  metricsContentType: string;
}

export function statusApp(source: StatusSource): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const reason = await source.notReady();
    if (reason === undefined) return c.json({ ready: true, ...source.status() }, 200);
    return c.json({ ready: false, reason, ...source.status() }, 503);
  });
  app.get("/status", (c) => c.json(source.status()));
  const metrics = async () =>
    new Response(await source.metricsText(), { headers: { "content-type": source.metricsContentType } });
  app.get("/metrics", metrics);
  app.get("/apisix/prometheus/metrics", metrics);
  return app;
}
