/**
 * The wire contract between a gateway (`sluice gateway`) and the control plane, used by both sides:
 * paths, headers and the heartbeat body. Config delivery is Server-Sent Events: one long-lived HTTP
 * response per gateway, one event per config version (`id: <version>`, `data: <GatewayConfig JSON>`).
 */
import { z } from "zod";

export const CONFIG_STREAM_PATH = "/api/gateway/config/stream";
export const HEARTBEAT_PATH = "/api/gateway/heartbeat";

/** the group's gateway token (`POST /api/gateway_groups/:id/token`) */
export const TOKEN_HEADER = "X-Gateway-Token";
/** the group, by name or id (the `group` query parameter works too) */
export const GROUP_HEADER = "X-Gateway-Group";
/** lets the control plane list a gateway as soon as its stream opens, before the first heartbeat */
export const INSTANCE_HEADER = "X-Gateway-Instance";

/** PostgreSQL NOTIFY channel on which replicas tell each other that a group's config changed */
export const CONFIG_CHANNEL = "sluice_config";

/** how often an SSE comment line goes out, so proxies and the gateway's idle watchdog see the stream is alive */
export const STREAM_KEEPALIVE_MS = 15_000;
/** an event a gateway has not taken in this long closes its stream (nginx `send_timeout` is 60 s too) */
export const STREAM_SEND_TIMEOUT_MS = 60_000;
/** a gateway that heard nothing (not even a keep-alive) for this long reconnects */
export const STREAM_IDLE_TIMEOUT_MS = 45_000;
export const HEARTBEAT_INTERVAL_MS = 10_000;

/** instance status thresholds, as API7 Enterprise shows them */
export const LOST_CONNECTION_AFTER_MS = 30_000;
export const OFFLINE_AFTER_MS = 2 * 3600_000;
export const REMOVE_AFTER_MS = 7 * 24 * 3600_000;

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

export type InstanceStatus = "healthy" | "lost_connection" | "offline";

export function instanceStatus(lastSeenAt: number, now: number): InstanceStatus {
  const age = now - lastSeenAt;
  if (age <= LOST_CONNECTION_AFTER_MS) return "healthy";
  if (age <= OFFLINE_AFTER_MS) return "lost_connection";
  return "offline";
}

/**
 * A gateway with several worker processes (`--workers`) is one instance: its worker count travels in
 * the `runtime` text of its hello and heartbeats (`node 20.20.2 (2 workers)`), which every control
 * plane version already stores, and the instance list reads it back as `workers`.
 */
export function runtimeWithWorkers(runtime: string, workers: number): string {
  return workers > 1 ? `${runtime} (${workers} workers)` : runtime;
}

/** the worker count of an instance from its `runtime` text; 1 when it names none */
export function workersOf(runtime: string): number {
  const match = /\((\d+) workers\)$/.exec(runtime);
  return match ? Number(match[1]) : 1;
}
