/**
 * The control plane's half of gateway sync, assembled for one admin app: the SSE/heartbeat routes
 * (their own token auth), the instances route (behind the admin key), the config hub fed by the store's
 * change feed, and — on PostgreSQL — LISTEN/NOTIFY so a change made through any replica reaches the
 * gateways of every replica. Pass `publicRoutes`, `publicPrefixes` and `adminRoutes` to `createAdminApp`.
 */
import type { Hono } from "hono";
import type { Logger } from "pino";
import type { ControlPlaneStore } from "../store/index.ts";
import { DbInstanceRegistry } from "../store/instances.ts";
import { ConfigHub } from "./config-hub.ts";
import { PgConfigChannel } from "./pg-config-channel.ts";
import { gatewayRoutes, instanceRoutes } from "./routes.ts";

export interface ControlPlaneSync {
  publicRoutes: Hono[];
  publicPrefixes: string[];
  adminRoutes: Hono[];
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
