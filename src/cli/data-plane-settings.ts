/**
 * The flags every process with a data plane takes (`start`, `gateway`): parsed and checked once, with
 * their environment variables and defaults (DESIGN.md §2).
 */
import { availableParallelism } from "node:os";
import type { MetricsCompat, MetricsOptions } from "../observability/metrics.ts";
import { parseHostPort } from "./addresses.ts";
import { type CommandContext, UsageError } from "./command.ts";
import { defaultMaxConnections, openFileLimit } from "./connection-limit.ts";

export const dataPlaneFlags = {
  "status-addr": { type: "string" },
  "listen-addr": { type: "string" },
  "drain-timeout": { type: "string" },
  "runtime-adapter": { type: "string" },
  "log-level": { type: "string" },
  "max-connections": { type: "string" },
  "metrics-compat": { type: "string" },
  workers: { type: "string" },
} as const;

export interface DataPlaneSettings {
  status: { host: string; port: number };
  listenAddr: string;
  drainTimeoutSeconds: number;
  runtimeAdapter: "native" | "node-compat";
  logLevel: string;
  /** TCP connections and UDP sessions together; default from the fd limit (connection-limit.ts) */
  maxConnections: number;
  /** whose metric names `/metrics` carries (`--metrics-compat`) */
  metricsCompat: MetricsCompat;
  /** data-plane processes on the same ports (`--workers N | auto`); 1 runs the data plane in this process */
  workers: number;
}

const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** `--log-level` / `SLUICE_LOG_LEVEL`, every process's flag */
export function parseLogLevel(flag: string | undefined, env: Record<string, string | undefined>): string {
  const logLevel = flag ?? env.SLUICE_LOG_LEVEL ?? "info";
  if (!logLevels.includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${logLevels.join(", ")}; got '${logLevel}'`);
  }
  return logLevel;
}

export function parseDataPlaneSettings(
  values: { [flag in keyof typeof dataPlaneFlags]?: string },
  env: Record<string, string | undefined>,
): DataPlaneSettings {
  const drain = Number(values["drain-timeout"] ?? env.SLUICE_DRAIN_TIMEOUT ?? "30");
  if (!Number.isFinite(drain) || drain < 0) throw new UsageError("--drain-timeout must be a number of seconds >= 0");
  const adapter = values["runtime-adapter"] ?? env.SLUICE_RUNTIME_ADAPTER ?? "native";
  if (adapter !== "native" && adapter !== "node-compat") {
    throw new UsageError(`--runtime-adapter must be 'native' or 'node-compat', got '${adapter}'`);
  }
  const logLevel = parseLogLevel(values["log-level"], env);
  const maxText = values["max-connections"] ?? env.SLUICE_MAX_CONNECTIONS;
  const maxConnections = maxText === undefined ? defaultMaxConnections(openFileLimit()) : Number(maxText);
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new UsageError(`--max-connections must be a whole number >= 1; got '${maxText}'`);
  }
  return {
    workers: parseWorkers(values.workers ?? env.SLUICE_WORKERS),
    status: parseHostPort(values["status-addr"] ?? env.SLUICE_STATUS_ADDR ?? "127.0.0.1:9091", "--status-addr"),
    listenAddr: values["listen-addr"] ?? env.SLUICE_LISTEN_ADDR ?? "0.0.0.0",
    drainTimeoutSeconds: drain,
    runtimeAdapter: adapter,
    logLevel,
    maxConnections,
    metricsCompat: parseMetricsCompat(values["metrics-compat"], env),
  };
}

/** `--workers N | auto` (`SLUICE_WORKERS`): `auto` is one per core the process may use; default 1 */
export function parseWorkers(text: string | undefined, cores: number = availableParallelism()): number {
  if (text === undefined || text === "") return 1;
  if (text === "auto") return Math.max(1, cores);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1024) {
    throw new UsageError(`--workers must be 'auto' or a whole number from 1 to 1024; got '${text}'`);
  }
  return n;
}

/**
 * `--metrics-compat` / `SLUICE_METRICS_COMPAT`: `sluice` (default) or `apisix`. `SLUICE_METRICS_PREFIX=apisix_`
 * alone also means `apisix`, so the one setting an APISIX user already knows brings APISIX's names too.
 */
export function parseMetricsCompat(flag: string | undefined, env: Record<string, string | undefined>): MetricsCompat {
  const text = flag ?? env.SLUICE_METRICS_COMPAT ?? (env.SLUICE_METRICS_PREFIX === "apisix_" ? "apisix" : "sluice");
  if (text !== "sluice" && text !== "apisix") {
    throw new UsageError(`--metrics-compat must be 'sluice' or 'apisix'; got '${text}'`);
  }
  return text;
}

/**
 * The metrics' names (`--metrics-compat`), prefix (`SLUICE_METRICS_PREFIX`; `apisix_` in APISIX mode
 * unless set), version and runtime.
 */
export function gatewayMetricsOptions(
  context: CommandContext,
  env: Record<string, string | undefined>,
  compat: MetricsCompat,
): MetricsOptions {
  return {
    prefix: env.SLUICE_METRICS_PREFIX || undefined,
    compat,
    version: context.version,
    runtime: `${context.edge.runtime} ${context.edge.runtimeVersion}`,
  };
}
