/**
 * The admin API as one Hono app: request log, `X-API-KEY` auth, body size limit, the resources, the
 * OpenAPI document, and APISIX-style `{"error_msg"}` errors (400/401/404/405/409/413).
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { pluginSchema } from "../config/plugin-config.ts";
import { createDashboard } from "../dashboard/index.ts";
import type { TrafficSource } from "../dashboard/traffic.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import { type ApiRoute, mountMethodNotAllowed, mountRoutes, openApiDocument } from "./api-routes.ts";
import { apisixRoutes } from "./apisix/routes.ts";
import { AuthThrottle, type AuthThrottleOptions, clientAddress } from "./auth-throttle.ts";
import { errorResponse } from "./errors.ts";
import { gatewayGroupRoutes } from "./gateway-groups.ts";
import { publicationRoutes } from "./publications.ts";
import { serviceRoutes } from "./services.ts";
import { sslRoutes } from "./ssls.ts";
import { streamRouteRoutes } from "./stream-routes.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface AdminAppOptions {
  store: ControlPlaneStore;
  logger: Logger;
  version: string;
  maxBodyBytes?: number;
  /** the gateway group the APISIX Admin API (`/apisix/admin/…`) writes into; default `default` */
  apisixGroup?: string;
  /** more routes: gateway-facing ones (`auth: "gateway"`, their own token check) and admin ones */
  extraRoutes?: ApiRoute[];
  /** what the dashboard's traffic charts sample */
  traffic?: TrafficSource;
  /** failed-authentication limit per client address (default 10 a minute) */
  authThrottle?: AuthThrottleOptions;
}

export function createAdminApp(options: AdminAppOptions): Hono {
  const { store, logger } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const routes: ApiRoute[] = [
    ...gatewayGroupRoutes(store),
    ...sslRoutes(store),
    ...serviceRoutes(store),
    ...streamRouteRoutes(store),
    ...publicationRoutes(store),
    ...apisixRoutes(store, options.apisixGroup ?? "default"),
    ...(options.extraRoutes ?? []),
  ];
  // routes that check their own credentials (gateway tokens) skip the admin key
  const publicPaths = new Set(["/openapi.json", ...routes.filter((r) => r.auth === "gateway").map((r) => r.path)]);
  const app = new Hono();

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    // gateways heartbeat every few seconds each: their successful calls are routine, not news
    const routine = c.res.status < 400 && c.req.path.startsWith("/api/gateway/");
    logger[routine ? "debug" : "info"](
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      "admin request",
    );
  });

  const dashboard = createDashboard({
    verifyKey: (key) => store.adminKeys.verify(key),
    traffic: options.traffic,
    pluginSchema,
  });
  app.route("/", dashboard.app);

  const throttle = new AuthThrottle(options.authThrottle);
  app.use("*", async (c, next) => {
    if (publicPaths.has(c.req.path)) return next();
    const client = clientAddress(c);
    const wait = throttle.retryAfter(client);
    if (wait > 0) {
      c.header("Retry-After", String(wait));
      return c.json({ error_msg: `too many failed authentications from ${client}; retry in ${wait} s` }, 429);
    }
    if (!store.adminKeys.verify(c.req.header("x-api-key")) && !dashboard.authorizes(c)) {
      const limited = throttle.fail(client);
      logger.warn({ client, method: c.req.method, path: c.req.path }, "admin authentication failed");
      if (limited) logger.warn({ client }, "admin authentication throttled: too many failures from this address");
      return c.json({ error_msg: "missing or wrong X-API-KEY header" }, 401);
    }
    return next();
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: maxBody,
      onError: (c) => c.json({ error_msg: `request body too large: limit is ${maxBody} bytes` }, 413),
    }),
  );

  mountRoutes(app, routes);
  app.get("/openapi.json", (c) => c.json(openApiDocument(routes, options.version)));
  mountMethodNotAllowed(app, routes);

  app.notFound((c) => c.json({ error_msg: `no such path: ${c.req.method} ${c.req.path}` }, 404));

  app.onError((error, c) => errorResponse(error, c, logger));

  return app;
}
