/**
 * The data plane of one process: the runtime's socket adapter, the metrics registry, the health checks
 * and the `Gateway`, put together the same way for `sluice start` (in-process, fed by the local store)
 * and `sluice gateway` (fed by a control plane or a file).
 */
import type { GatewayConfig } from "../config/types.ts";
import type { Logger } from "../observability/logger.ts";
import { configureMetrics, type GatewayMetrics } from "../observability/metrics.ts";
import type { SocketAdapter } from "../proxy/adapter.ts";
import { Gateway } from "../proxy/gateway.ts";
import { HealthChecks } from "../proxy/health/health-checks.ts";
import { DEFAULT_GROUP_ID } from "../store/gateway-groups.ts";
import { DbInstanceRegistry } from "../store/instances.ts";
import type { DataPlaneReport } from "../sync/gateway-sync.ts";
import { advertisedAddress, hostName, loadInstanceId } from "../sync/instance-identity.ts";
import { HEARTBEAT_INTERVAL_MS, type HeartbeatBody } from "../sync/protocol.ts";
import type { DataPlaneContext } from "./commands/start.ts";
import type { DataPlane } from "./data-plane.ts";
import type { RuntimeEdge } from "./runtime-edge.ts";

export interface GatewayStackOptions {
  edge: RuntimeEdge;
  adapterKind: "native" | "node-compat";
  logger: Logger;
  sluiceVersion: string;
  gatewayGroup: string;
  drainTimeoutMs: number;
  listenAddr: string;
  reusePort?: boolean;
}

export interface GatewayStack {
  adapter: SocketAdapter;
  gateway: Gateway;
  health: HealthChecks;
  metrics: GatewayMetrics;
  /** applies a config to the gateway, then to the health checks and the version metric */
  apply(config: GatewayConfig): Promise<void>;
  /** what heartbeats and the status endpoint say about this data plane */
  report(): DataPlaneReport;
  /** stops accepting, drains, stops the health checks */
  stop(): Promise<void>;
}

export async function createGatewayStack(options: GatewayStackOptions): Promise<GatewayStack> {
  const { edge, logger } = options;
  const adapter = await edge.socketAdapter(options.adapterKind);
  const metrics = configureMetrics({
    prefix: process.env.SLUICE_METRICS_PREFIX,
    version: options.sluiceVersion,
    runtime: `${edge.runtime} ${edge.runtimeVersion}`,
  });
  const health = new HealthChecks(adapter, logger);
  metrics.setHealthSource(() => health.snapshot({ includeUnchecked: true }));
  const gateway = new Gateway({
    adapter,
    logger,
    gatewayGroup: options.gatewayGroup,
    drainTimeoutMs: options.drainTimeoutMs,
    listenAddr: options.listenAddr,
    health,
    reusePort: options.reusePort ?? false,
  });
  return {
    adapter,
    gateway,
    health,
    metrics,
    async apply(config) {
      await gateway.apply(config);
      health.apply(config);
      metrics.setConfigVersion(config.gateway_group.name, config.version);
    },
    report() {
      const s = gateway.status();
      const byService: DataPlaneReport["health"] = {};
      for (const service of health.snapshot()) {
        const nodes: Record<string, string> = {};
        for (const n of service.nodes) nodes[n.node] = n.status;
        byService[service.service_id] = nodes;
      }
      return {
        listeners: s.listeners.map((l) => ({
          protocol: l.protocol,
          addr: l.addr,
          state: l.state,
          ...(l.error !== undefined && { error: l.error }),
        })),
        active_connections: s.activeConnections ?? 0,
        health: byService,
      };
    },
    async stop() {
      await gateway.stop();
      health.stop();
    },
  };
}

/**
 * `sluice start`'s gateway: group `default`, fed by the local store through `attachDataPlane`. It records
 * its own heartbeats in the store, so it is listed in `instances` and `healthcheck` like any gateway.
 */
export async function inProcessDataPlane(ctx: DataPlaneContext): Promise<DataPlane> {
  const { settings, context, logger, store } = ctx;
  const stack = await createGatewayStack({
    edge: context.edge,
    adapterKind: settings.runtimeAdapter,
    logger,
    sluiceVersion: context.version,
    gatewayGroup: DEFAULT_GROUP_ID,
    drainTimeoutMs: settings.drainTimeoutSeconds * 1000,
    listenAddr: settings.listenAddr,
  });
  const runtime = `${context.edge.runtime} ${context.edge.runtimeVersion}`;
  logger.info({ runtime, adapter: stack.adapter.name }, "gateway started");

  const instances = new DbInstanceRegistry(store.database.db);
  const identity = {
    id: await loadInstanceId(settings.dataDir ?? "./data"),
    hostname: hostName(),
    address: advertisedAddress(settings.listenAddr),
    runtime,
    sluice_version: context.version,
  };
  let applied = -1;
  let configError: HeartbeatBody["config_error"] = null;
  const heartbeat = () =>
    instances
      .heartbeat(DEFAULT_GROUP_ID, {
        ...identity,
        config_version: applied,
        config_error: configError,
        ...stack.report(),
      })
      .catch((error: Error) => logger.warn({ reason: error.message }, "could not record the gateway heartbeat"));
  const timer = setInterval(heartbeat, HEARTBEAT_INTERVAL_MS);

  return {
    async apply(config) {
      try {
        await stack.apply(config);
        applied = config.version;
        configError = null;
      } catch (error) {
        configError = { version: config.version, message: (error as Error).message };
        throw error;
      } finally {
        void heartbeat();
      }
    },
    status: () => ({ adapter: stack.adapter.name, ...stack.report(), gateway: stack.gateway.status() }),
    metricsText: () => stack.metrics.text(),
    async stop() {
      clearInterval(timer);
      await stack.stop();
    },
  };
}
