/**
 * The control plane's half of gateway sync, assembled for one admin app: the SSE/heartbeat routes
 * (their own token auth), the instances route (behind the admin key), the config hub fed by the store's
 * change feed, and — on PostgreSQL — LISTEN/NOTIFY so a change made through any replica reaches the
 * gateways of every replica. Pass `publicRoutes`, `publicPrefixes` and `adminRoutes` to `createAdminApp`.
 */
import type { Hono } from "hono";
import type { Logger } from "pino";
import type { ApiRoute } from "../admin/api-routes.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import { DbInstanceRegistry } from "../store/instances.ts";
import { ConfigHub } from "./config-hub.ts";
import { PgConfigChannel } from "./pg-config-channel.ts";
import { CONFIG_STREAM_PATH, HEARTBEAT_PATH } from "./protocol.ts";
import { gatewayRoutes, instanceRoutes } from "./routes.ts";

export interface ControlPlaneSync {
  publicRoutes: Hono[];
  publicPrefixes: string[];
  adminRoutes: Hono[];
  /** how those routes appear in /openapi.json */
  routeDocs: ApiRoute[];
  /** start listening for other replicas' changes (PostgreSQL only) */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createControlPlaneSync(store: ControlPlaneStore, logger: Logger): ControlPlaneSync {
  const readConfig = (groupId: string) => store.groups.getConfig(groupId);
  const hub = new ConfigHub(readConfig, logger);
  const instances = new DbInstanceRegistry(store.database.db);
  const channel = store.database.sql ? new PgConfigChannel(store.database.sql, logger) : undefined;
  const unsubscribe = store.feed.subscribeAll((change) => {
    hub.changed(change.group);
    // after commit (the feed announces committed changes only): the other replicas read the new rows
    void channel?.notify(change);
  });
  return {
    publicRoutes: [
      gatewayRoutes({
        auth: {
          resolveGroup: (ref) => store.groups.resolve(ref),
          verifyToken: (groupId, token) => store.verifyGatewayToken(groupId, token),
        },
        hub,
        readConfig,
        instances,
        logger,
      }),
    ],
    publicPrefixes: ["/api/gateway/"],
    adminRoutes: [instanceRoutes({ instances, groupExists: (id) => store.groups.exists(id) })],
    routeDocs: [
      {
        method: "get",
        path: CONFIG_STREAM_PATH,
        summary: "the group's compiled config as Server-Sent Events (id = version; resume with Last-Event-ID)",
        tag: "gateway sync",
        auth: "gateway",
      },
      {
        method: "post",
        path: HEARTBEAT_PATH,
        summary: "a gateway's heartbeat: identity, applied version, listeners, node health",
        tag: "gateway sync",
        auth: "gateway",
      },
      {
        method: "get",
        path: "/api/gateway_groups/:gid/instances",
        summary: "gateway instances of a group, with API7's statuses",
        tag: "gateway groups",
      },
      {
        method: "get",
        path: "/api/gateway_groups/:gid/healthcheck",
        summary: "upstream node health as the group's live gateways report it",
        tag: "gateway groups",
      },
    ],
    async start() {
      await channel?.listen((change) => hub.changed(change.group));
    },
    async stop() {
      unsubscribe();
      hub.stop();
      await channel?.close();
    },
  };
}
