/**
 * The status server of every sluice process: `/healthz` (the process runs), `/readyz` (200 only while
 * the process serves: its config applied, not shutting down), `/metrics` (and the APISIX alias
 * `/apisix/prometheus/metrics`) from the process's own registry, and `/status` (JSON).
 */
import { Hono } from "hono";

export interface StatusSource {
  ready(): boolean;
  status(): Record<string, unknown>;
  metricsText(): Promise<string>;
  /** the exposition's content type (prom-client's `Registry.contentType`) */
  metricsContentType: string;
}

export function statusApp(source: StatusSource): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const body = { ready: source.ready(), ...source.status() };
    return c.json(body, body.ready ? 200 : 503);
  });
  app.get("/status", (c) => c.json(source.status()));
  const metrics = async () =>
    new Response(await source.metricsText(), { headers: { "content-type": source.metricsContentType } });
  app.get("/metrics", metrics);
  app.get("/apisix/prometheus/metrics", metrics);
  return app;
}
