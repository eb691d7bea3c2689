/**
 * What the admin API answers, as zod schemas for `/openapi.json` (the stores build these views; the
 * schemas document them). Stream fields reuse src/config/schema.ts, as the request schemas do.
 */
import { z } from "zod";
import {
  labels,
  pluginMap,
  sslFields,
  streamRouteFields,
  tlsProtocol,
  upstream,
  upstreamNode,
} from "../config/schema.ts";

const timestamp = z.string().describe("ISO 8601");

export const groupView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  labels,
  stream_port_ranges: z.array(z.string()),
  real_ip_from: z.array(z.string()),
  global_rules: pluginMap.describe("stream plugins run on every stream route of the group"),
  plugin_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).describe("per plugin, as written"),
  config_version: z.number().int(),
  has_token: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const globalRulesView = pluginMap;
export const pluginMetadataView = z.record(z.string(), z.record(z.string(), z.unknown()));

export const serviceView = z.object({
  id: z.string(),
  name: z.string(),
  desc: z.string().optional(),
  labels: labels.optional(),
  type: z.enum(["http", "stream"]),
  upstream: upstream.optional(),
  upstreams: z.array(z.record(z.string(), z.unknown())).optional().describe("ADC's named upstreams, kept as written"),
  plugins: pluginMap.optional(),
  managed_by: z
    .object({ api: z.literal("apisix"), path: z.string() })
    .optional()
    .describe("set when the APISIX Admin API owns this service: read-only here, change it at `path`"),
  created_at: timestamp,
  updated_at: timestamp,
});

const certificateInfo = z.object({
  fingerprint: z.string().describe("SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it"),
  validity_start: z.number().int().describe("notBefore, unix seconds"),
  validity_end: z.number().int().describe("notAfter, unix seconds"),
  names: z.array(z.string()).describe("the DNS names the certificate covers"),
  key_type: z.string(),
  subject: z.string(),
  issuer: z.string(),
  chain_length: z.number().int(),
});

/** never `key` or `keys` */
export const sslView = sslFields.omit({ key: true, keys: true }).extend({
  id: z.string(),
  gateway_group_id: z.string(),
  fingerprint: z.string().describe("of `cert`"),
  validity_start: z.number().int(),
  validity_end: z.number().int(),
  names: z.array(z.string()).describe("the names `cert` covers"),
  certificates: z.array(certificateInfo).describe("`cert` first, then each of `certs`"),
  created_at: timestamp,
  updated_at: timestamp,
});

export const streamRouteView = streamRouteFields.extend({
  id: z.string(),
  service_id: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

const snapshot = z.object({
  service: z.object({ id: z.string(), name: z.string(), desc: z.string().optional(), labels: labels.optional() }),
  upstream,
  plugins: pluginMap,
  stream_routes: z.array(streamRouteFields.extend({ id: z.string() })),
});

export const versionView = z.object({
  id: z.string(),
  gateway_group_id: z.string(),
  service_id: z.string(),
  version: z.string(),
  seq: z.number().int(),
  current: z.boolean(),
  created_at: timestamp,
  snapshot,
});

export const publishResult = z.object({ version: versionView, config_version: z.number().int() });

export const publishedView = z.object({
  service_id: z.string(),
  name: z.string(),
  version: z.string(),
  upstream,
  runtime_nodes: z.array(upstreamNode).nullable(),
  stream_routes: z.number().int().describe("how many"),
  published_at: timestamp,
  updated_at: timestamp,
});

export const runtimeNodesResult = z.object({ nodes: z.array(upstreamNode), config_version: z.number().int() });
export const unpublishResult = z.object({
  service_id: z.string(),
  unpublished: z.literal(true),
  config_version: z.number().int(),
});
export const deleted = z.object({ id: z.string(), deleted: z.literal(true) });
export const token = z.object({ token: z.string().describe("shown only in this answer") });

const publishedRoute = z.object({
  id: z.string(),
  name: z.string(),
  server_addr: z.string().optional(),
  server_port: z.number().int(),
  remote_addr: z.string().optional(),
  sni: z.string().optional(),
  tls: z.enum(["passthrough", "terminate"]).optional(),
  proxy_protocol: z.literal(true).optional(),
  plugins: pluginMap,
});

const compiledSsl = z.object({
  id: z.string(),
  snis: z.array(z.string()),
  cert: z.string(),
  key: z.string().describe("PEM private key, opened for gateways (this endpoint needs a gateway token or admin key)"),
  certs: z.array(z.string()),
  keys: z.array(z.string()),
  client: z.object({ ca: z.string(), depth: z.number().int() }).optional(),
  ssl_protocols: z.array(tlsProtocol),
  validity_end: z.number().int(),
});

export const gatewayConfig = z.object({
  version: z.number().int(),
  gateway_group: z.object({ id: z.string(), name: z.string() }),
  stream_port_ranges: z.array(z.object({ from: z.number().int(), to: z.number().int() })),
  services: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      version: z.string(),
      upstream,
      plugins: pluginMap,
      stream_routes: z.array(publishedRoute),
    }),
  ),
  ssls: z.array(compiledSsl),
  real_ip_from: z.array(z.string()),
  global_rules: pluginMap.optional(),
  plugin_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});

export const instanceView = z.object({
  id: z.string(),
  gateway_group_id: z.string(),
  hostname: z.string(),
  address: z.string(),
  runtime: z.string(),
  workers: z.number().int().describe("data-plane worker processes of this instance (`--workers`)"),
  sluice_version: z.string(),
  config_version: z.number().int(),
  config_error: z.object({ version: z.number().int(), message: z.string() }).nullable(),
  listeners: z.array(z.record(z.string(), z.unknown())),
  health: z.record(z.string(), z.record(z.string(), z.string())).describe("service id → node → status"),
  active_connections: z.number().int(),
  first_seen_at: timestamp,
  last_heartbeat_at: timestamp,
  status: z.enum(["healthy", "lost_connection", "offline"]),
});

export const serviceNodeHealth = z.object({
  service_id: z.string(),
  nodes: z.array(
    z.object({
      node: z.string(),
      status: z.enum(["healthy", "unhealthy", "partial"]),
      healthy_on: z.number().int(),
      unhealthy_on: z.number().int(),
      instances: z.array(z.object({ id: z.string(), hostname: z.string(), status: z.string() })),
    }),
  ),
});

export const heartbeatAnswer = z.object({ config_version: z.number().int() });
