/**
 * Gateway instances in the database: what the control plane's gateway routes record (stream opened,
 * heartbeat) and what `GET /api/gateway_groups/:gid/instances` lists, with API7's statuses. Instances
 * silent for 7 days are deleted when a list or a heartbeat passes by.
 */
import { and, eq, lt, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { InstanceRegistry, InstanceView } from "../sync/instances.ts";
import {
  type HeartbeatBody,
  type InstanceHello,
  instanceStatus,
  REMOVE_AFTER_MS,
  workersOf,
} from "../sync/protocol.ts";
import { gatewayInstances } from "./instances-schema.ts";

// biome-ignore lint/suspicious/noExplicitAny: the PGlite and postgres.js drizzle databases differ only in their query result type
type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>;

export class DbInstanceRegistry implements InstanceRegistry {
  constructor(private readonly db: AnyPgDatabase) {}

  async hello(groupId: string, hello: InstanceHello): Promise<void> {
    const identity = {
      hostname: hello.hostname,
      address: hello.address,
      runtime: hello.runtime,
      sluiceVersion: hello.sluice_version,
    };
    await this.db
      .insert(gatewayInstances)
      .values({ groupId, id: hello.id, ...identity })
      .onConflictDoUpdate({
        target: [gatewayInstances.groupId, gatewayInstances.id],
        set: { ...identity, lastHeartbeatAt: sql`now()` },
      });
  }

  async heartbeat(groupId: string, body: HeartbeatBody): Promise<void> {
    const fields = {
      hostname: body.hostname,
      address: body.address,
      runtime: body.runtime,
      sluiceVersion: body.sluice_version,
      configVersion: body.config_version,
      configError: body.config_error,
      listeners: body.listeners,
      health: body.health,
      activeConnections: body.active_connections,
    };
    await this.db
      .insert(gatewayInstances)
      .values({ groupId, id: body.id, ...fields })
      .onConflictDoUpdate({
        target: [gatewayInstances.groupId, gatewayInstances.id],
        set: { ...fields, lastHeartbeatAt: sql`now()` },
      });
  }

  async list(groupId: string): Promise<InstanceView[]> {
    await this.db
      .delete(gatewayInstances)
      .where(
        and(
          eq(gatewayInstances.groupId, groupId),
          lt(gatewayInstances.lastHeartbeatAt, sql`now() - make_interval(secs => ${REMOVE_AFTER_MS / 1000})`),
        ),
      );
    const rows = await this.db
      .select({ row: gatewayInstances, now: sql<string>`now()` })
      .from(gatewayInstances)
      .where(eq(gatewayInstances.groupId, groupId))
      .orderBy(gatewayInstances.firstSeenAt, gatewayInstances.id);
    return rows.map(({ row, now }) => {
      const last = new Date(row.lastHeartbeatAt);
      return {
        id: row.id,
        gateway_group_id: row.groupId,
        hostname: row.hostname,
        address: row.address,
        runtime: row.runtime,
        workers: workersOf(row.runtime),
        sluice_version: row.sluiceVersion,
        config_version: row.configVersion,
        config_error: row.configError ?? null,
        listeners: row.listeners,
        health: row.health,
        active_connections: row.activeConnections,
        first_seen_at: new Date(row.firstSeenAt).toISOString(),
        last_heartbeat_at: last.toISOString(),
        status: instanceStatus(last.getTime(), new Date(now).getTime()),
      };
    });
  }
}
