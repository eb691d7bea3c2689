/**
 * The wire contract between a gateway (`sluice gateway`) and the control plane, used by both sides:
 * paths, headers and the heartbeat body. Config delivery is Server-Sent Events: one long-lived HTTP
 * response per gateway, one event per config version (`id: <version>`, `data: <GatewayConfig JSON>`).
 * The schemas of what a gateway sends are in heartbeat-schema.ts: only the control plane parses them, and a
 * gateway that imports this file does not load zod.
 */
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

/** what a heartbeat carries and what a gateway says of itself when its stream opens (checked by the control plane) */
export type { HeartbeatBody, InstanceHello } from "./heartbeat-schema.ts";

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
