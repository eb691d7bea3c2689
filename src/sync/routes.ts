/**
 * The control plane's HTTP surface for gateways, as Hono handlers:
 * `GET /api/gateway/config/stream` (SSE) and `POST /api/gateway/heartbeat`, authenticated with the
 * group's gateway token (`X-Gateway-Token`), not the admin key.
 *
 * Why SSE: one long-lived plain HTTP response per gateway passes through proxies and load balancers
 * that do not speak WebSocket, is read with `fetch` on Node, Bun and Deno alike, and has resume built in
 * (`Last-Event-ID` = the version the gateway serves). Long-poll would cost a request per version and a
 * window with no open request in which a publish waits.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Logger } from "pino";
import { describeIssue } from "../config/issues.ts";
import { unstorableTextError, unstorableTextPath } from "../config/storable-text.ts";
import type { GatewayConfig } from "../config/types.ts";
import type { ConfigHub, ConfigReader } from "./config-hub.ts";
import { heartbeatBody, instanceHello } from "./heartbeat-schema.ts";
import type { InstanceRegistry } from "./instances.ts";
import {
  CONFIG_STREAM_PATH,
  GROUP_HEADER,
  HEARTBEAT_PATH,
  INSTANCE_HEADER,
  type InstanceHello,
  STREAM_KEEPALIVE_MS,
  STREAM_SEND_TIMEOUT_MS,
  TOKEN_HEADER,
} from "./protocol.ts";

export interface GatewayAuth {
  /** a group by name or id */
  resolveGroup(nameOrId: string): Promise<{ id: string; name: string } | undefined>;
  verifyToken(groupId: string, token: string): Promise<boolean>;
}

export interface GatewayRoutesDeps {
  auth: GatewayAuth;
  hub: ConfigHub;
  readConfig: ConfigReader;
  instances: InstanceRegistry;
  logger: Logger;
  keepaliveMs?: number;
  /** how long one event may stay unwritten before the stream is closed (default STREAM_SEND_TIMEOUT_MS) */
  sendTimeoutMs?: number;
}

/** the handlers of `CONFIG_STREAM_PATH` and `HEARTBEAT_PATH`; the admin app mounts them (src/admin/control-plane-sync.ts) */
export interface GatewayHandlers {
  configStream(c: Context): Promise<Response>;
  heartbeat(c: Context): Promise<Response>;
  /** config events being written now, across all streams: at most one per stream */
  eventsInFlight(): number;
}

export function gatewayHandlers(deps: GatewayRoutesDeps): GatewayHandlers {
  const { auth, hub, readConfig, instances, logger } = deps;
  // one token per event being written: a Set of objects, since one group has many streams
  const inFlightEvents = new Set<object>();

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

  async function configStream(c: Context): Promise<Response> {
    const group = await authenticate(c.req.raw, CONFIG_STREAM_PATH);
    if (!group) return refused();
    const token = c.req.header(TOKEN_HEADER) ?? "";
    const hello = parseHello(c.req.header(INSTANCE_HEADER));
    if (hello) await instances.hello(group.id, hello).catch(() => {});
    const lastEventId = Number(c.req.header("last-event-id") ?? Number.NaN);
    const keepaliveMs = deps.keepaliveMs ?? STREAM_KEEPALIVE_MS;
    const sendTimeoutMs = deps.sendTimeoutMs ?? STREAM_SEND_TIMEOUT_MS;

    const response = streamSSE(c, async (stream) => {
      let sent: number | undefined;
      let closed = false;
      let ended: () => void = () => {};
      const end = new Promise<void>((resolve) => {
        ended = resolve;
      });
      const cleanup = () => {
        if (closed) return;
        closed = true;
        pending = undefined;
        inFlightEvents.delete(streamToken);
        clearInterval(keepalive);
        unsubscribe();
        logger.info({ gateway_group: group.name, instance: hello?.id }, "gateway config stream closed");
        ended();
      };
      // a write fails once the gateway went away: that ends the stream
      const write = (written: Promise<unknown>) => void written.catch(cleanup);
      // A gateway needs only the newest config: while one event is being written, a newer version
      // replaces the pending one instead of queueing behind it, so a reader that stopped reading holds
      // at most one event in flight and one pending. One still unwritten after `sendTimeoutMs` (nginx
      // `send_timeout`) ends the stream; the gateway reconnects and resumes from its version.
      let pending: GatewayConfig | undefined;
      let writing = false;
      const streamToken = {};
      const flush = () => {
        if (closed || writing || !pending) return;
        const config = pending;
        pending = undefined;
        writing = true;
        inFlightEvents.add(streamToken);
        const stuck = setTimeout(() => {
          logger.warn(
            { gateway_group: group.name, instance: hello?.id, version: config.version, send_timeout_ms: sendTimeoutMs },
            "gateway config stream closed: the gateway stopped reading",
          );
          cleanup();
          stream.abort();
          // the response's socket is full and would hold the connection: Node's server hands it to Hono as
          // `env.outgoing`; destroying it frees the buffered event at once
          (c.env as { outgoing?: { destroy?: () => void } } | undefined)?.outgoing?.destroy?.();
        }, sendTimeoutMs);
        stream.writeSSE({ id: String(config.version), data: JSON.stringify(config) }).then(
          () => {
            clearTimeout(stuck);
            writing = false;
            inFlightEvents.delete(streamToken);
            flush();
          },
          () => {
            clearTimeout(stuck);
            inFlightEvents.delete(streamToken);
            cleanup();
          },
        );
      };
      // versions only grow, except when the database was replaced: then the first config differs
      // from the gateway's and is sent whatever its number, and after that only newer ones are.
      const send = (config: GatewayConfig) => {
        if (closed) return;
        if (sent === undefined && config.version === lastEventId) {
          sent = config.version;
          return;
        }
        if (sent !== undefined && config.version <= sent) return;
        sent = config.version;
        pending = config;
        flush();
      };
      const unsubscribe = hub.subscribe(group.id, send);
      // a rotated token stops working after its grace period: re-check it, so a stream opened with it
      // does not outlive it (the gateway's reconnect then gets the 401)
      const keepalive = setInterval(() => {
        write(stream.write(": keepalive\n\n"));
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
      stream.onAbort(cleanup);
      c.req.raw.signal?.addEventListener("abort", cleanup);
      // the reconnect delay the gateway's SSE reader is asked to use (a field `writeSSE` only sends with data)
      write(stream.write("retry: 1000\n\n"));
      logger.info(
        { gateway_group: group.name, instance: hello?.id, from_version: lastEventId },
        "gateway config stream opened",
      );
      readConfig(group.id).then(send, (error: Error) => {
        logger.error({ gateway_group: group.name, reason: error.message }, "could not read group config");
        cleanup();
      });
      await end;
    });
    response.headers.set("cache-control", "no-cache, no-transform");
    // nginx and similar proxies would otherwise buffer the stream
    response.headers.set("x-accel-buffering", "no");
    return response;
  }

  async function heartbeat(c: Context): Promise<Response> {
    const group = await authenticate(c.req.raw, HEARTBEAT_PATH);
    if (!group) return refused();
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      return c.json({ error_msg: "invalid JSON body" }, 400);
    }
    const parsed = heartbeatBody.safeParse(json);
    if (!parsed.success) return c.json({ error_msg: describeIssue(parsed.error.issues[0]!) }, 400);
    const unstorable = unstorableTextError(parsed.data);
    if (unstorable) return c.json({ error_msg: unstorable }, 400);
    await instances.heartbeat(group.id, parsed.data);
    const config = await readConfig(group.id);
    return c.json({ value: { config_version: config.version } });
  }

  return { configStream, heartbeat, eventsInFlight: () => inFlightEvents.size };
}

function parseHello(header: string | undefined): InstanceHello | undefined {
  if (!header) return undefined;
  try {
    const parsed = instanceHello.safeParse(JSON.parse(header));
    return parsed.success && !unstorableTextPath(parsed.data) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
