/**
 * The control plane's tables (Drizzle, PostgreSQL dialect: the same schema runs on PGlite and on a
 * PostgreSQL server). Migrations are generated from this file with `npm run db:generate` into
 * `drizzle/` and committed; `migrate.ts` applies them.
 *
 * Service templates and stream routes keep their validated fields as JSON (`spec`): the admin API owns
 * their shape (src/config/schema.ts), and a version snapshot must freeze exactly what was published.
 */
import { integer, jsonb, pgSequence, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import type { CertificateInfo } from "../config/certificate.ts";
import type { Labels, PluginMap, SslFields, StreamRouteFields, Upstream, UpstreamNode } from "../config/schema.ts";
import type { GatewayConfig, PluginMetadata } from "../config/types.ts";

export const gatewayGroups = pgTable("gateway_groups", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  description: text("description"),
  labels: jsonb("labels").$type<Labels>(),
  streamPortRanges: jsonb("stream_port_ranges").$type<string[]>().notNull(),
  /** CIDRs whose PROXY protocol headers the group's gateways trust */
  realIpFrom: jsonb("real_ip_from").$type<string[]>().notNull().default([]),
  /** plugins run on every stream route of the group (ADC's `global_rules`), checked by each plugin's schema */
  globalRules: jsonb("global_rules").$type<PluginMap>().notNull().default({}),
  /** per-plugin metadata (ADC's `plugin_metadata`), passed through to gateways as written */
  pluginMetadata: jsonb("plugin_metadata").$type<PluginMetadata>().notNull().default({}),
  /** the compiled config gateways apply; rewritten in the transaction of every change that affects it */
  config: jsonb("config").$type<GatewayConfig>().notNull(),
  configVersion: integer("config_version").notNull().default(0),
  tokenHash: text("token_hash"),
  previousTokenHash: text("previous_token_hash"),
  previousTokenExpiresAt: timestamp("previous_token_expires_at", { withTimezone: true }),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export interface ServiceSpec {
  name: string;
  desc?: string;
  labels?: Labels;
  type: "http" | "stream";
  upstream?: Upstream | Record<string, unknown>;
  plugins?: PluginMap;
  /** ADC's named upstreams, kept as checked (no effect on a stream) */
  upstreams?: Array<Record<string, unknown>>;
  /** set on the services that mirror APISIX stream routes: only that API may change them */
  managed_by?: { api: "apisix"; path: string };
}

export const services = pgTable("services", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  spec: jsonb("spec").$type<ServiceSpec>().notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const streamRoutes = pgTable(
  "stream_routes",
  {
    id: text("id").primaryKey(),
    serviceId: text("service_id")
      .notNull()
      .references(() => services.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    spec: jsonb("spec").$type<StreamRouteFields>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("stream_routes_service_name").on(t.serviceId, t.name)],
);

/** what a publish froze: the service as it was, with the upstream it was published with, and its routes */
export interface VersionSnapshot {
  service: { id: string; name: string; desc?: string; labels?: Labels };
  upstream: Upstream;
  plugins: PluginMap;
  stream_routes: Array<StreamRouteFields & { id: string }>;
}

export const serviceVersions = pgTable(
  "service_versions",
  {
    id: text("id").primaryKey(),
    gatewayGroupId: text("gateway_group_id")
      .notNull()
      .references(() => gatewayGroups.id, { onDelete: "cascade" }),
    /** not a foreign key: history outlives the template it was published from */
    serviceId: text("service_id").notNull(),
    /** order of publication within (group, service), 1, 2, … */
    seq: integer("seq").notNull(),
    version: text("version").notNull(),
    snapshot: jsonb("snapshot").$type<VersionSnapshot>().notNull(),
    /** `publish` or `rollback` */
    action: text("action").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("service_versions_label").on(t.gatewayGroupId, t.serviceId, t.version),
    uniqueIndex("service_versions_seq").on(t.gatewayGroupId, t.serviceId, t.seq),
  ],
);

export const publishedServices = pgTable(
  "published_services",
  {
    gatewayGroupId: text("gateway_group_id")
      .notNull()
      .references(() => gatewayGroups.id),
    serviceId: text("service_id").notNull(),
    versionId: text("version_id")
      .notNull()
      .references(() => serviceVersions.id),
    /** the group's runtime upstream nodes (changed without a new version); null = the version's nodes */
    runtimeNodes: jsonb("runtime_nodes").$type<UpstreamNode[]>(),
    publishedAt: timestamp("published_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.gatewayGroupId, t.serviceId] })],
);

/** an SSL object's public fields as stored: everything but the private keys */
export type SslSpec = Omit<SslFields, "key" | "keys">;

/** certificates of a gateway group; private keys only ever sealed with the keyring (src/store/keyring.ts) */
export const ssls = pgTable("ssls", {
  id: text("id").primaryKey(),
  gatewayGroupId: text("gateway_group_id")
    .notNull()
    .references(() => gatewayGroups.id, { onDelete: "cascade" }),
  spec: jsonb("spec").$type<SslSpec>().notNull(),
  /** `key`, sealed (context `ssl/<id>/key`) */
  sealedKey: text("sealed_key").notNull(),
  /** `keys[i]`, sealed (context `ssl/<id>/keys/<i>`) */
  sealedKeys: jsonb("sealed_keys").$type<string[]>().notNull(),
  /** what the certificates say (fingerprint, validity, names), `cert` first, then `certs[i]` */
  certificates: jsonb("certificates").$type<CertificateInfo[]>().notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const adminKeys = pgTable("admin_keys", {
  id: text("id").primaryKey(),
  /** sha256 hex of the key; keys are 32 random bytes, so a fast hash is enough */
  keyHash: text("key_hash").notNull().unique(),
  /** `env` (SLUICE_ADMIN_KEY) or `generated` */
  source: text("source").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Objects written through the APISIX Admin API (`/apisix/admin/stream_routes`, `/apisix/admin/upstreams`),
 * kept exactly as written (APISIX clients read back what they wrote: a `nodes` map stays a map). Each stream
 * route is also mirrored as a Sluice stream service, which is what gateways run. `created_index` and
 * `modified_index` play etcd's role in APISIX's envelopes: one counter (`apisix_object_index`) across all
 * APISIX objects, never reused.
 */
export const apisixObjectIndex = pgSequence("apisix_object_index");

export const apisixObjects = pgTable(
  "apisix_objects",
  {
    /** `stream_routes` or `upstreams` */
    kind: text("kind").notNull(),
    id: text("id").notNull(),
    value: jsonb("value").$type<Record<string, unknown>>().notNull(),
    createdIndex: integer("created_index").notNull(),
    modifiedIndex: integer("modified_index").notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.id] })],
);
