/**
 * The data plane of `sluice start` and `sluice gateway`, one shape whatever `--workers` says: a
 * `Gateway` in this process (`--workers 1`, the default), or a `WorkerPool` of worker processes on the
 * same ports (`--workers N`) where the runtime can run them.
 */
import type { GatewayConfig } from "../config/types.ts";
import type { TrafficSource } from "../dashboard/traffic.ts";
import type { Logger } from "../observability/logger.ts";
import type { MetricsOptions } from "../observability/metrics.ts";
import { type ApplyReport, Gateway, type GatewayReport, type GatewayStatus } from "../proxy/gateway.ts";
import { UsageError } from "./command.ts";
import type { DataPlaneSettings } from "./data-plane-settings.ts";
import type { RuntimeEdge } from "./runtime-edge.ts";
import { WorkerPool } from "./workers/worker-pool.ts";

export interface RunningDataPlane {
  /** the adapter's name, with the worker count when there are workers */
  readonly adapterName: string;
  readonly workers: number;
  apply(config: GatewayConfig): Promise<ApplyReport>;
  /** true while every data plane serves the newest config it was given */
  serving(): boolean;
  report(): GatewayReport;
  status(): GatewayStatus;
  metricsText(): Promise<string>;
  readonly metricsContentType: string;
  /** what the dashboard's traffic charts read */
  readonly traffic: TrafficSource;
  /** stops accepting, drains, stops */
  stop(): Promise<void>;
}

export interface DataPlaneOptions {
  settings: DataPlaneSettings;
  edge: RuntimeEdge;
  logger: Logger;
  gatewayGroup: string;
  metrics: MetricsOptions;
  /** `sluice gateway --reuse-port`: share the ports with other processes */
  reusePort?: boolean;
}

export async function openDataPlane(options: DataPlaneOptions): Promise<RunningDataPlane> {
  const { settings, edge, logger } = options;
  const adapter = await edge.socketAdapter(settings.runtimeAdapter);
  if (settings.workers > 1) {
    const processes = await edge.workers();
    if ("unsupported" in processes) {
      throw new UsageError(
        `--workers ${settings.workers} is not available on ${edge.runtime}: ${processes.unsupported}`,
      );
    }
    const pool = new WorkerPool({
      count: settings.workers,
      processes,
      logger,
      adapter,
      settings: {
        gatewayGroup: options.gatewayGroup,
        listenAddr: settings.listenAddr,
        drainTimeoutMs: settings.drainTimeoutSeconds * 1000,
        runtimeAdapter: settings.runtimeAdapter,
        logLevel: settings.logLevel,
        maxConnections: settings.maxConnections,
        metrics: options.metrics,
        reusePort: processes.reusePort,
      },
    });
    await pool.start();
    return {
      adapterName: pool.adapterName,
      workers: pool.count,
      apply: (config) => pool.apply(config),
      serving: () => pool.ready(),
      report: () => pool.report(),
      status: () => pool.status(),
      metricsText: () => pool.metricsText(),
      metricsContentType: pool.metrics.contentType,
      traffic: () => pool.trafficSource(),
      stop: () => pool.stop(),
    };
  }
  const gateway = new Gateway({
    adapter,
    logger,
    gatewayGroup: options.gatewayGroup,
    drainTimeoutMs: settings.drainTimeoutSeconds * 1000,
    maxConnections: settings.maxConnections,
    listenAddr: settings.listenAddr,
    reusePort: options.reusePort,
    metrics: options.metrics,
  });
  return {
    adapterName: adapter.name,
    workers: 1,
    apply: (config) => gateway.apply(config),
    serving: () => true,
    report: () => gateway.report(),
    status: () => gateway.status(),
    metricsText: () => gateway.metrics.text(),
    metricsContentType: gateway.metrics.contentType,
    traffic: () => gateway.metrics,
    stop: () => gateway.stop(),
  };
}
