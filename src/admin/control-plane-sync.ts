/**
 * The control plane's half of gateway sync, assembled for one admin app: the SSE config stream and the
 * heartbeat (their own token auth), the instance and health routes (behind the admin key), the config
 * hub fed by the store's change feed, and — on PostgreSQL — LISTEN/NOTIFY so a change made through any
 * replica reaches the gateways of every replica. Pass `routes` to `createAdminApp` as `extraRoutes`.
 */
import type { Logger } from "pino";
import type { ControlPlaneStore } from "../store/index.ts";
import { DbInstanceRegistry } from "../store/instances.ts";
import { ConfigHub } from "../sync/config-hub.ts";
import { PgConfigChannel } from "../sync/pg-config-channel.ts";
import { CONFIG_STREAM_PATH, HEARTBEAT_PATH } from "../sync/protocol.ts";
import { gatewayHandlers } from "../sync/routes.ts";
import type { ApiRoute } from "./api-routes.ts";
import { instanceRoutes } from "./instances.ts";
import { gatewayConfig, heartbeatAnswer } from "./responses.ts";

export interface ControlPlaneSync {
  routes: ApiRoute[];
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
  const handlers = gatewayHandlers({
    auth: {
      resolveGroup: (ref) => store.groups.resolve(ref),
      verifyToken: (groupId, token) => store.verifyGatewayToken(groupId, token),
    },
    hub,
    readConfig,
    instances,
    logger,
  });
  const tag = "gateway sync";
  return {
    routes: [
      {
        method: "get",
        path: CONFIG_STREAM_PATH,
        summary: "the group's compiled config as Server-Sent Events (id = version; resume with Last-Event-ID)",
        tag,
        auth: "gateway",
        eventStream: true,
        response: gatewayConfig,
        handler: handlers.configStream,
      },
      {
        method: "post",
        path: HEARTBEAT_PATH,
        summary: "a gateway's heartbeat: identity, applied version, listeners, node health",
        tag,
        auth: "gateway",
        response: heartbeatAnswer,
        handler: handlers.heartbeat,
      },
      ...instanceRoutes(store, instances),
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
