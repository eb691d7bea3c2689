/**
 * The schemas of what a gateway sends its control plane (src/sync/protocol.ts has the rest of the wire
 * contract): the heartbeat body and the identity headers of a config stream. Only the control plane
 * parses them (src/sync/routes.ts); a gateway uses their types alone, so it does not load zod.
 */
import { z } from "zod";

/** the `integer` columns of `gateway_instances` hold 32 bits */
const int32 = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 31 - 1);

export const listenerReport = z.object({
  protocol: z.string().max(16),
  addr: z.string().max(300),
  state: z.string().max(32),
  error: z.string().max(1000).optional(),
});

export const heartbeatBody = z.object({
  id: z.string().min(1).max(128),
  hostname: z.string().max(256).default(""),
  address: z.string().max(300).default(""),
  runtime: z.string().max(128).default(""),
  sluice_version: z.string().max(64).default(""),
  /** the config version the gateway serves; -1 when it serves none yet */
  config_version: int32.min(-1).default(-1),
  /** the last config that failed to apply (the previous one keeps serving) */
  config_error: z
    .object({ version: int32, message: z.string().max(2000) })
    .nullable()
    .default(null),
  listeners: z.array(listenerReport).max(10_000).default([]),
  /** upstream node health as this gateway sees it: `{ serviceId: { "host:port": "healthy" | "unhealthy" } }` */
  health: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  active_connections: int32.min(0).default(0),
});
export type HeartbeatBody = z.output<typeof heartbeatBody>;

/** the identity a gateway sends in headers when it opens its config stream */
export const instanceHello = z.object({
  id: z.string().min(1).max(128),
  hostname: z.string().max(256).default(""),
  runtime: z.string().max(128).default(""),
  sluice_version: z.string().max(64).default(""),
  address: z.string().max(300).default(""),
});
export type InstanceHello = z.output<typeof instanceHello>;
