/**
 * The control plane's HTTP surface for gateways, as Hono routes:
 * - `GET /api/gateway/config/stream` (SSE) and `POST /api/gateway/heartbeat`, authenticated with the
 *   group's gateway token (`X-Gateway-Token`), not the admin key;
 * - `GET /api/gateway_groups/:gid/instances`, an admin route (mount it behind the admin key).
 *
 * Why SSE: one long-lived plain HTTP response per gateway passes through proxies and load balancers
 * that do not speak WebSocket, is read with `fetch` on Node, Bun and Deno alike, and has resume built in
 * (`Last-Event-ID` = the version the gateway serves). Long-poll would cost a request per version and a
 * window with no open request in which a publish waits.
 */
import { Hono } from "hono";
import type { Logger } from "pino";
import { describeIssue } from "../config/issues.ts";
import type { GatewayConfig } from "../config/types.ts";
import type { ConfigHub, ConfigReader } from "./config-hub.ts";
import {
  GROUP_HEADER,
  type HeartbeatBody,
  heartbeatBody,
  INSTANCE_HEADER,
  type InstanceHello,
  type InstanceStatus,
  instanceHello,
  STREAM_KEEPALIVE_MS,
  TOKEN_HEADER,
} from "./protocol.ts";
import { formatSseComment, formatSseEvent } from "./sse.ts";

export interface GatewayAuth {
  /** a group by name or id */
  resolveGroup(nameOrId: string): Promise<{ id: string; name: string } | undefined>;
  verifyToken(groupId: string, token: string): Promise<boolean>;
}

export interface InstanceView {
  id: string;
  gateway_group_id: string;
  hostname: string;
  address: string;
  runtime: string;
  sluice_version: string;
  config_version: number;
  config_error: { version: number; message: string } | null;
  listeners: HeartbeatBody["listeners"];
  health: HeartbeatBody["health"];
  active_connections: number;
  first_seen_at: string;
  last_heartbeat_at: string;
  status: InstanceStatus;
}

export interface InstanceRegistry {
  /** a gateway opened its config stream */
  hello(groupId: string, hello: InstanceHello): Promise<void>;
  heartbeat(groupId: string, body: HeartbeatBody): Promise<void>;
  /** the group's instances with their status; also forgets instances silent for 7 days */
  list(groupId: string): Promise<InstanceView[]>;
}

export interface GatewayRoutesDeps {
  auth: GatewayAuth;
  hub: ConfigHub;
  readConfig: ConfigReader;
  instances: InstanceRegistry;
  logger: Logger;
  keepaliveMs?: number;
}

/** routes the gateways call, authenticated with the group's gateway token */
export function gatewayRoutes(deps: GatewayRoutesDeps): Hono {
  const { auth, hub, readConfig, instances, logger } = deps;
  const app = new Hono();

  /** the group, or undefined after logging why (the caller answers 401) */
  async function authenticate(request: Request, path: string): Promise<{ id: string; name: string } | undefined> {
    const url = new URL(request.url);
    const groupRef = request.headers.get(GROUP_HEADER) ?? url.searchParams.get("group") ?? "";
    const token = request.headers.get(TOKEN_HEADER) ?? "";
    const group = groupRef && token ? await auth.resolveGroup(groupRef) : undefined;
    if (group && (await auth.verifyToken(group.id, token))) return group;
    const reason = !token ? "no gateway token" : !group ? "unknown gateway group" : "wrong or expired gateway token";
    logger.warn({ path, gateway_group: groupRef, reason }, "gateway refused");
    return undefined;
  }
  const refused = () => Response.json({ error_msg: "unauthorized: wrong or missing gateway token" }, { status: 401 });

  app.get("/api/gateway/config/stream", async (c) => {
    const group = await authenticate(c.req.raw, "/api/gateway/config/stream");
    if (!group) return refused();
    const token = c.req.header(TOKEN_HEADER) ?? "";
    const hello = parseHello(c.req.header(INSTANCE_HEADER));
    if (hello) await instances.hello(group.id, hello).catch(() => {});
    const lastEventId = Number(c.req.header("last-event-id") ?? Number.NaN);
    const keepaliveMs = deps.keepaliveMs ?? STREAM_KEEPALIVE_MS;
    const encoder = new TextEncoder();
    let cleanup = () => {};

    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let sent: number | undefined;
        let closed = false;
        const write = (text: string) => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            cleanup();
          }
        };
        // versions only grow, except when the database was replaced: then the first config differs
        // from the gateway's and is sent whatever its number, and after that only newer ones are.
        const send = (config: GatewayConfig) => {
          if (sent === undefined && config.version === lastEventId) {
            sent = config.version;
            return;
          }
          if (sent !== undefined && config.version <= sent) return;
          sent = config.version;
          write(formatSseEvent({ id: config.version, data: JSON.stringify(config) }));
        };
        const unsubscribe = hub.subscribe(group.id, send);
        // a rotated token stops working after its grace period: re-check it, so a stream opened with it
        // does not outlive it (the gateway's reconnect then gets the 401)
        const keepalive = setInterval(() => {
          write(formatSseComment("keepalive"));
          auth.verifyToken(group.id, token).then(
            (ok) => {
              if (ok || closed) return;
              logger.warn(
                { gateway_group: group.name, instance: hello?.id, reason: "gateway token no longer valid" },
                "gateway refused",
              );
              cleanup();
            },
            () => {},
          );
        }, keepaliveMs);
        cleanup = () => {
          if (closed) return;
          closed = true;
          clearInterval(keepalive);
          unsubscribe();
          logger.info({ gateway_group: group.name, instance: hello?.id }, "gateway config stream closed");
          try {
            controller.close();
          } catch {
            // already closed by the client going away
          }
        };
        c.req.raw.signal?.addEventListener("abort", () => cleanup());
        write("retry: 1000\n\n");
        logger.info(
          { gateway_group: group.name, instance: hello?.id, from_version: lastEventId },
          "gateway config stream opened",
        );
        readConfig(group.id).then(send, (error: Error) => {
          logger.error({ gateway_group: group.name, reason: error.message }, "could not read group config");
          cleanup();
        });
      },
      cancel() {
        cleanup();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        // nginx and similar proxies would otherwise buffer the stream
        "x-accel-buffering": "no",
      },
    });
  });

  app.post("/api/gateway/heartbeat", async (c) => {
    const group = await authenticate(c.req.raw, "/api/gateway/heartbeat");
    if (!group) return refused();
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      return c.json({ error_msg: "invalid JSON body" }, 400);
    }
    const parsed = heartbeatBody.safeParse(json);
    if (!parsed.success) return c.json({ error_msg: describeIssue(parsed.error.issues[0]!) }, 400);
    await instances.heartbeat(group.id, parsed.data);
    const config = await readConfig(group.id);
    return c.json({ value: { config_version: config.version } });
  });

  return app;
}

/** the admin route listing a group's gateways; `groupExists` answers 404 for an unknown group */
export function instanceRoutes(deps: {
  instances: InstanceRegistry;
  groupExists(groupId: string): Promise<boolean>;
}): Hono {
  const app = new Hono();
  app.get("/api/gateway_groups/:gid/instances", async (c) => {
    const gid = c.req.param("gid");
    if (!(await deps.groupExists(gid))) return c.json({ error_msg: `gateway group ${gid} not found` }, 404);
    const all = await deps.instances.list(gid);
    const page = Math.max(1, Number(c.req.query("page") ?? 1) || 1);
    const pageSize = Math.min(500, Math.max(1, Number(c.req.query("page_size") ?? 100) || 100));
    const list = all.slice((page - 1) * pageSize, page * pageSize);
    return c.json({ list, total: all.length, page, page_size: pageSize });
  });
  /**
   * `GET /api/gateway_groups/:gid/healthcheck`: upstream node health as the group's gateways see it,
   * from their heartbeats (only gateways heard from in the last 30 s count). A node is `healthy` when
   * every reporting gateway sees it up, `unhealthy` when every one sees it down, `partial` otherwise —
   * health checks run per gateway, so they may disagree (e.g. a network split).
   */
  app.get("/api/gateway_groups/:gid/healthcheck", async (c) => {
    const gid = c.req.param("gid");
    if (!(await deps.groupExists(gid))) return c.json({ error_msg: `gateway group ${gid} not found` }, 404);
    const byService = new Map<string, Map<string, { id: string; hostname: string; status: string }[]>>();
    for (const instance of await deps.instances.list(gid)) {
      if (instance.status !== "healthy") continue;
      for (const [serviceId, nodes] of Object.entries(instance.health)) {
        let service = byService.get(serviceId);
        if (!service) {
          service = new Map();
          byService.set(serviceId, service);
        }
        for (const [node, status] of Object.entries(nodes)) {
          let views = service.get(node);
          if (!views) {
            views = [];
            service.set(node, views);
          }
          views.push({ id: instance.id, hostname: instance.hostname, status });
        }
      }
    }
    const list = [...byService].map(([serviceId, nodes]) => ({
      service_id: serviceId,
      nodes: [...nodes].map(([node, views]) => {
        const up = views.filter((v) => nodeIsUp(v.status)).length;
        const status = up === views.length ? "healthy" : up === 0 ? "unhealthy" : "partial";
        return { node, status, healthy_on: up, unhealthy_on: views.length - up, instances: views };
      }),
    }));
    return c.json({ list, total: list.length });
  });
  return app;
}

/** lua-resty-healthcheck's `mostly_healthy` is still in the balancer; `mostly_unhealthy` is still out */
function nodeIsUp(status: string): boolean {
  return status === "healthy" || status === "mostly_healthy";
}

function parseHello(header: string | undefined): InstanceHello | undefined {
  if (!header) return undefined;
  try {
    const parsed = instanceHello.safeParse(JSON.parse(header));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
