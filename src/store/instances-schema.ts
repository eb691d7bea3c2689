/**
 * The `gateway_instances` table: one row per gateway (data plane) that streamed or heartbeated, keyed
 * by group and instance id. Shared by all control-plane replicas, so any replica lists every gateway.
 * Times are the database's clock (`now()`), so replicas with skewed clocks agree on statuses.
 */
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { gatewayGroups } from "./schema.ts";

export const gatewayInstances = pgTable(
  "gateway_instances",
  {
    groupId: text("group_id")
      .notNull()
      .references(() => gatewayGroups.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    hostname: text("hostname").notNull().default(""),
    address: text("address").notNull().default(""),
    runtime: text("runtime").notNull().default(""),
    sluiceVersion: text("sluice_version").notNull().default(""),
    configVersion: integer("config_version").notNull().default(-1),
    configError: jsonb("config_error").$type<{ version: number; message: string } | null>(),
    listeners: jsonb("listeners")
      .$type<{ protocol: string; addr: string; state: string; error?: string }[]>()
      .notNull()
      .default([]),
    health: jsonb("health").$type<Record<string, Record<string, string>>>().notNull().default({}),
    activeConnections: integer("active_connections").notNull().default(0),
    firstSeenAt: timestamp("first_seen_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.groupId, t.id] }),
    index("gateway_instances_last_heartbeat_idx").on(t.lastHeartbeatAt),
  ],
);
