/**
 * The admin API as one Hono app: request log, `X-API-KEY` auth, body size limit, the resources, the
 * OpenAPI document, and APISIX-style `{"error_msg"}` errors (400/401/404/405/409/413).
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { createDashboard } from "../dashboard/index.ts";
import { StoreError } from "../store/errors.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import { type ApiRoute, ApiRouteList } from "./api-routes.ts";
import { registerGatewayGroups } from "./gateway-groups.ts";
import { registerPublications } from "./publications.ts";
import { RequestError } from "./request.ts";
import { registerServices } from "./services.ts";
import { registerStreamRoutes } from "./stream-routes.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface AdminAppOptions {
  store: ControlPlaneStore;
  logger: Logger;
  version: string;
  maxBodyBytes?: number;
  /** routes with their own auth, mounted before the admin key check (the gateways' config stream) */
  publicRoutes?: Hono[];
  /** more admin routes behind the admin key (gateway instances, health) */
  adminRoutes?: Hono[];
  /** path prefixes that skip the admin key check, for `publicRoutes` */
  publicPrefixes?: string[];
  /** how `publicRoutes` and `adminRoutes` appear in /openapi.json and in 405 answers */
  routeDocs?: ApiRoute[];
}

export function createAdminApp(options: AdminAppOptions): Hono {
  const { store, logger } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const publicPrefixes = ["/openapi.json", ...(options.publicPrefixes ?? [])];
  const app = new Hono();
  const routes = new ApiRouteList();

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

  const dashboard = createDashboard({ verifyKey: (key) => store.adminKeys.verify(key) });
  app.route("/", dashboard.app);

  app.use("*", async (c, next) => {
    if (publicPrefixes.some((p) => c.req.path === p || c.req.path.startsWith(p))) return next();
    if (!store.adminKeys.verify(c.req.header("x-api-key")) && !dashboard.authorizes(c)) {
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

  for (const extra of options.publicRoutes ?? []) app.route("/", extra);

  registerGatewayGroups(app, store, routes);
  registerServices(app, store, routes);
  registerStreamRoutes(app, store, routes);
  registerPublications(app, store, routes);
  for (const extra of options.adminRoutes ?? []) app.route("/", extra);
  for (const doc of options.routeDocs ?? []) routes.add(doc);

  app.get("/openapi.json", (c) => c.json(routes.openApiDocument(options.version)));

  for (const [path, methods] of routes.methodsByPath()) {
    app.all(path, (c) =>
      c.json(
        { error_msg: `method ${c.req.method} not allowed on ${c.req.path}; allowed: ${methods.join(", ")}` },
        405,
        {
          Allow: methods.join(", "),
        },
      ),
    );
  }

  app.notFound((c) => c.json({ error_msg: `no such path: ${c.req.method} ${c.req.path}` }, 404));

  app.onError((error, c) => {
    if (error instanceof StoreError || error instanceof RequestError) {
      return c.json({ error_msg: error.message }, error.status);
    }
    const pgCode = postgresCode(error);
    if (pgCode === "23505") return c.json({ error_msg: `already exists: ${uniqueDetail(error)}` }, 409);
    logger.error({ err: error, method: c.req.method, path: c.req.path }, "admin request failed");
    return c.json({ error_msg: "internal error" }, 500);
  });

  return app;
}

/** both drivers expose the SQLSTATE as `code`, postgres.js sometimes on a wrapped `cause` */
function postgresCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === "string") return e.code;
  if (typeof e.cause?.code === "string") return e.cause.code;
  return undefined;
}

function uniqueDetail(error: unknown): string {
  const e = error as { detail?: string; cause?: { detail?: string } };
  return e.detail ?? e.cause?.detail ?? "a unique name or version is taken";
}
