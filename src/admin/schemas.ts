/**
 * Request bodies of the admin API. Stream fields reuse src/config/schema.ts, so the admin API accepts
 * exactly what the data plane can run; these schemas also produce the OpenAPI document.
 */
import { z } from "zod";
import {
  ipOrCidr,
  labels,
  objectId,
  pluginMap,
  portRange,
  sslFields,
  streamRouteFields,
  upstream,
  upstreamNodes,
} from "../config/schema.ts";

export const groupInput = z.strictObject({
  name: z.string().min(1).max(256),
  description: z.string().max(256).optional(),
  labels: labels.optional(),
  stream_port_ranges: z.array(portRange).min(1).optional(),
  /** sources whose PROXY protocol headers are trusted; absent keeps the current list (none for a new group) */
  real_ip_from: z.array(ipOrCidr).optional(),
});

/** a gateway group's global rules: a plugins map */
export const globalRulesInput = pluginMap;
/** a gateway group's plugin metadata: plugin name → that plugin's metadata */
export const pluginMetadataInput = z.record(z.string(), z.record(z.string(), z.unknown()));

/** an SSL object as written; certificates, keys and names are checked together by the store */
export const sslInput = sslFields;

/** a service as written; the upstream is checked per type in services.ts (nodes may be given at publish) */
export const serviceInput = z.strictObject({
  name: z.string().min(1).max(256),
  desc: z.string().max(256).optional(),
  labels: labels.optional(),
  type: z.enum(["http", "stream"]).default("stream"),
  upstream: z.record(z.string(), z.unknown()).optional(),
  /** ADC's named upstreams (`id`, `name` and an upstream each): kept and read back, no effect on a stream */
  upstreams: z.array(z.record(z.string(), z.unknown())).optional(),
  plugins: pluginMap.optional(),
});

/** a new service: `id` is chosen by the client (ADC files carry ids) or generated */
export const serviceCreateInput = serviceInput.extend({ id: objectId.optional() });

/** documents the stream upstream in OpenAPI (validation runs it with `nodes` defaulting to `[]`) */
export const streamUpstreamDoc = upstream;

export const streamRouteInput = streamRouteFields;
/** a new stream route: `id` is chosen by the client or generated */
export const streamRouteCreateInput = streamRouteFields.extend({ id: objectId.optional() });

export const publishInput = z.strictObject({
  gateway_group_id: z.string().min(1),
  version: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._+-]+$/, { message: "must be letters, digits and . _ + -" })
    .optional(),
  upstream: z.record(z.string(), z.unknown()).optional(),
});

export const rollbackInput = z.strictObject({ version: z.string().min(1).max(64) });

export const runtimeUpstreamInput = z.strictObject({ nodes: upstreamNodes });
