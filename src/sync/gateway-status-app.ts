/**
 * The status server of a `sluice gateway` process: `/healthz` (the process runs), `/readyz` (200 only
 * once a config serves, from a control plane, the cache or the file), `/metrics` (and the APISIX alias
 * `/apisix/prometheus/metrics`), and `/status` (the sync state and the data plane's status, as JSON).
 */
import { Hono } from "hono";

export interface GatewayStatusSource {
  ready(): boolean;
  status(): Record<string, unknown>;
  metricsText(): Promise<string>;
}

export function gatewayStatusApp(source: GatewayStatusSource): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const body = { ready: source.ready(), ...source.status() };
    return c.json(body, body.ready ? 200 : 503);
  });
  app.get("/status", (c) => c.json(source.status()));
  const metrics = async () =>
    new Response(await source.metricsText(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  app.get("/metrics", metrics);
  app.get("/apisix/prometheus/metrics", metrics);
  return app;
}
