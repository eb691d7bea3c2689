/**
 * What the primary and its workers (`--workers`) say to each other over IPC (`IpcPeer`):
 * - primary → worker, calls: `init` (WorkerSettings) once, `apply` (a GatewayConfig) for every version,
 *   `metrics` (the worker's registry as prom-client JSON), `stop` (drain, answer, exit);
 * - primary → worker, note: `health` (HealthView) whenever a node's state changes;
 * - worker → primary, call: `acquire` (a limit-conn key) → the process-wide count after adding one;
 * - worker → primary, notes: `listening` (its handlers are in place: what was sent before is lost), `release` (a key), `connect` (ConnectOutcome, for passive checks),
 *   `state` (WorkerState) after every apply and every second.
 */
import type { MetricsOptions } from "../../observability/metrics.ts";
import type { GatewayReport, GatewayStatus } from "../../proxy/gateway.ts";

export interface WorkerSettings {
  gatewayGroup: string;
  listenAddr: string;
  drainTimeoutMs: number;
  runtimeAdapter: "native" | "node-compat";
  logLevel: string;
  /** each worker's own connection budget (a process's fd table is its own) */
  maxConnections: number;
  metrics: MetricsOptions;
  /** bind each listener with SO_REUSEPORT (else the runtime shares the primary's handle) */
  reusePort: boolean;
}

/** node health as the primary's checks see it: the nodes out of the balancers, and where to report connects */
export interface HealthView {
  /** `[serviceId, "host:port"]` of every node marked down */
  down: [string, string][];
  /** services with passive checks */
  passive: string[];
}

export interface ConnectOutcome {
  service: string;
  node: string;
  outcome: "ok" | "failure" | "timeout";
}

export interface WorkerState {
  pid: number;
  status: GatewayStatus;
  report: GatewayReport;
}

/** how often a worker sends its state when nothing happens */
export const STATE_INTERVAL_MS = 1000;
