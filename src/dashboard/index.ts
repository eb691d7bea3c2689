/**
 * The dashboard, served by the admin listener at `/`: one HTML page, its script and stylesheet (built
 * once from `client/` into `client-bundle.generated.ts`, so every runtime and the single binary carry
 * them as plain strings and nothing is built at start), the sign-in session, and two read-only JSON
 * endpoints the API does not have: the plugin schemas and the traffic history. Everything else the page
 * does goes through the public `/api` with the session cookie and CSRF header.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import { streamPlugins } from "../proxy/plugins/index.ts";
import type { StreamPlugin } from "../proxy/plugins/types.ts";
import { CLIENT_CSS, CLIENT_JS, CLIENT_VERSION } from "./client-bundle.generated.ts";
import { CSRF_HEADER, DashboardSessions, SESSION_COOKIE } from "./sessions.ts";
import { TrafficHistory, type TrafficSource } from "./traffic.ts";

export interface DashboardOptions {
  verifyKey(key: string | undefined): boolean;
  /** the in-process gateway's metrics (`sluice start`); without one the charts stay empty */
  traffic?: TrafficSource;
  /**
   * a plugin's config schema, for its form (`pluginSchema` of src/config/plugin-config.ts, which builds
   * each one on first use; the dashboard does not reach src/config itself)
   */
  pluginSchema(plugin: StreamPlugin): z.ZodType;
}

export interface Dashboard {
  /** mount before the admin key check: the page, its assets and sign-in are public */
  app: Hono;
  /** true when the request carries a live session (and, for a change, its CSRF token) */
  authorizes(c: Context): boolean;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice</title>
<link rel="stylesheet" href="/dashboard/app.css?v=${CLIENT_VERSION}">
<script type="module" src="/dashboard/app.js?v=${CLIENT_VERSION}"></script>
</head>
<body><main id="app" aria-live="polite"><p class="loading">Loading…</p></main></body>
</html>
`;

/** no inline script or style, nothing from another origin, not framable */
const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

const signIn = z.strictObject({ key: z.string().min(1).max(1024) });

export function createDashboard(options: DashboardOptions): Dashboard {
  const sessions = new DashboardSessions();
  const traffic = new TrafficHistory(options.traffic ?? (() => undefined));
  const app = new Hono();
  const authorizes = (c: Context) =>
    sessions.authorizes(getCookie(c, SESSION_COOKIE), c.req.method, c.req.header(CSRF_HEADER));
  const signedIn = (c: Context) =>
    options.verifyKey(c.req.header("x-api-key")) || sessions.authorizes(getCookie(c, SESSION_COOKIE), "GET", undefined);

  app.get("/", (c) => c.html(PAGE, 200, { ...SECURITY_HEADERS, "Cache-Control": "no-store" }));
  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, {
      "Content-Type": type,
      "Cache-Control": "public, max-age=31536000, immutable",
      ...SECURITY_HEADERS,
    });
  app.get("/dashboard/app.js", asset(CLIENT_JS, "text/javascript; charset=utf-8"));
  app.get("/dashboard/app.css", asset(CLIENT_CSS, "text/css; charset=utf-8"));

  app.get("/dashboard/session", (c) => {
    const csrf = sessions.csrfFor(getCookie(c, SESSION_COOKIE));
    return c.json({ value: { signed_in: csrf !== undefined, csrf: csrf ?? null } }, 200, {
      "Cache-Control": "no-store",
    });
  });
  app.post("/dashboard/session", async (c) => {
    // JSON only: a cross-site HTML form cannot send it, so nobody can be signed in to someone else's session
    if (!(c.req.header("content-type") ?? "").startsWith("application/json")) {
      return c.json({ error_msg: "sign-in needs a JSON body" }, 415);
    }
    const parsed = signIn.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success || !options.verifyKey(parsed.data.key)) {
      return c.json({ error_msg: 'invalid "key": not an admin key of this gateway' }, 401);
    }
    const session = sessions.create();
    // start the history now, so the Traffic page has some when it is opened
    void traffic.read();
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.json({ value: { signed_in: true, csrf: session.csrf } });
  });
  app.delete("/dashboard/session", (c) => {
    if (!authorizes(c)) return c.json({ error_msg: "not signed in, or missing X-CSRF-Token header" }, 401);
    sessions.delete(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.json({ value: { signed_in: false } });
  });

  app.use("/api/dashboard/*", async (c, next) => {
    if (!signedIn(c)) return c.json({ error_msg: "missing or wrong X-API-KEY header" }, 401);
    return next();
  });
  app.get("/api/dashboard/plugins", (c) =>
    c.json({
      list: [...streamPlugins.values()].map((p) => ({
        name: p.name,
        priority: p.priority,
        schema: z.toJSONSchema(options.pluginSchema(p), { io: "input", unrepresentable: "any" }),
      })),
    }),
  );
  app.get("/api/dashboard/traffic", async (c) =>
    c.json({ list: await traffic.read() }, 200, { "Cache-Control": "no-store" }),
  );

  return { app, authorizes };
}
