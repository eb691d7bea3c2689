/**
 * One applied config, compiled for the pipeline: per (protocol, port) route tables, the upstream pools,
 * the plugin instances, and the listeners it needs. A new version builds a new generation next to the
 * running one and the gateway swaps the pointer in one step; connections keep the generation they
 * started with. A replaced generation disposes its plugin instances when its last session ends.
 */
import type { Logger } from "pino";
import { apiMessage } from "../config/issues.ts";
import type { checkPluginConfig, checkPluginMetadata } from "../config/plugin-config.ts";
import { pluginDisabled, withoutMeta } from "../config/plugin-meta.ts";
import type { PluginMap } from "../config/schema.ts";
import type { GatewayConfig, PublishedService } from "../config/types.ts";
import { type GatewayMetrics, RouteMetrics } from "../observability/metrics.ts";
import type { SocketAdapter } from "./adapter.ts";
import type { NodeHealth } from "./health/types.ts";
import type { PluginEnv, PluginInstance, PluginScope, ProcessCounts, StreamPlugin } from "./plugins/types.ts";
import { TrustedSources } from "./proxy-protocol-session.ts";
import { canonicalAddress, type PluginSlot, PortRoutes, parseRouteMatch, type RouteEntry } from "./router.ts";
import { ServerCertificates } from "./tls-termination.ts";
import { UpstreamPool } from "./upstream-pool.ts";

export interface ListenerSpec {
  protocol: "tcp" | "udp";
  host: string;
  port: number;
}

export function listenerKey(spec: ListenerSpec): string {
  return `${spec.protocol} ${spec.host} ${spec.port}`;
}

export function portKey(protocol: "tcp" | "udp", port: number): string {
  return protocol === "tcp" ? `t${port}` : `u${port}`;
}

export interface GenerationDeps {
  logger: Logger;
  adapter: SocketAdapter;
  gatewayGroup: string;
  health: NodeHealth;
  // biome-ignore lint/suspicious/noExplicitAny: plugins have heterogeneous config types
  plugins: ReadonlyMap<string, StreamPlugin<any>>;
  /** one state map per plugin name, kept across generations */
  sharedState: Map<string, Map<string, unknown>>;
  /** listen address for routes without `server_addr` */
  listenAddr: string;
  metrics: GatewayMetrics;
  /** the process's shared counts when this gateway is one of several workers */
  processCounts?: ProcessCounts;
  /**
   * the schema checks every plugin config and `plugin_metadata` goes through on apply
   * (src/config/plugin-config.ts), which also fill the defaults of this build's plugins: a config
   * published by another Sluice version, or holding rows written by one, runs as this build expects
   */
  pluginChecks: PluginChecks;
}

/** src/config/plugin-config.ts's checks, loaded by whoever needs them, so that this file does not load zod */
export interface PluginChecks {
  checkPluginConfig: typeof checkPluginConfig;
  checkPluginMetadata: typeof checkPluginMetadata;
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);

export class ConfigGeneration {
  active = 0;
  private retired = false;
  private disposed = false;

  constructor(
    readonly version: number,
    readonly ports: ReadonlyMap<string, PortRoutes>,
    readonly listeners: readonly ListenerSpec[],
    /** listeners left out, and why (port outside the group's ranges) */
    readonly refused: readonly { spec: ListenerSpec; reason: string }[],
    readonly pools: ReadonlyMap<string, { fingerprint: string; pool: UpstreamPool }>,
    readonly routeIds: ReadonlySet<string>,
    readonly routeCount: number,
    private readonly instances: readonly { name: string; instance: PluginInstance }[],
    private readonly logger: Logger,
    /** the group's certificates, for terminating routes */
    readonly certificates: ServerCertificates = new ServerCertificates([], undefined),
    /** where PROXY protocol headers are trusted from */
    readonly realIpFrom: TrustedSources = new TrustedSources([]),
  ) {}

  /** the route table of a listening port, for TCP accepts and new UDP sessions alike */
  routesOn(protocol: "tcp" | "udp", port: number): PortRoutes | undefined {
    return this.ports.get(portKey(protocol, port));
  }

  acquire(): void {
    this.active++;
  }

  release(): void {
    this.active--;
    if (this.retired && this.active === 0) this.dispose();
  }

  /** replaced by a newer generation: dispose once the last session of this one ends */
  retire(): void {
    this.retired = true;
    if (this.active === 0) this.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { name, instance } of this.instances) {
      try {
        instance.dispose?.();
      } catch (error) {
        this.logger.warn({ plugin: name, reason: (error as Error).message }, "plugin dispose failed");
      }
    }
  }
}

function inRanges(port: number, ranges: GatewayConfig["stream_port_ranges"]): boolean {
  if (ranges.length === 0) return true;
  return ranges.some((r) => port >= r.from && port <= r.to);
}

function pluginEnv(
  deps: GenerationDeps,
  name: string,
  metrics: RouteMetrics,
  metadata: Record<string, unknown> | undefined,
): PluginEnv {
  let shared = deps.sharedState.get(name);
  if (!shared) {
    shared = new Map();
    deps.sharedState.set(name, shared);
  }
  return {
    logger: deps.logger.child({ plugin: name }),
    adapter: deps.adapter,
    gatewayGroup: deps.gatewayGroup,
    metrics,
    shared,
    processCounts: deps.processCounts,
    metadata,
  };
}

/**
 * Compiles a config. Throws (and creates nothing that outlives the call) when a plugin is unknown or
 * its config is invalid: the running generation then keeps serving.
 */
export function compileGeneration(
  config: GatewayConfig,
  deps: GenerationDeps,
  previous: ConfigGeneration | undefined,
): ConfigGeneration {
  const created: { name: string; instance: PluginInstance }[] = [];
  const metadata = deps.pluginChecks.checkPluginMetadata(config.plugin_metadata ?? {}, deps.plugins);
  if (!metadata.ok) throw new Error(apiMessage(metadata.problems[0]!));
  try {
    const pools = new Map<string, { fingerprint: string; pool: UpstreamPool }>();
    const byPort = new Map<string, RouteEntry[]>();
    const routeIds = new Set<string>();
    let routeCount = 0;
    for (const service of config.services) {
      const fingerprint = JSON.stringify(service.upstream);
      const old = previous?.pools.get(service.id);
      const pool =
        old && old.fingerprint === fingerprint
          ? old.pool
          : new UpstreamPool(service.id, service.upstream, deps.health, deps.logger);
      pools.set(service.id, { fingerprint, pool });
      for (const route of service.stream_routes) {
        const metrics = new RouteMetrics(deps.metrics);
        const scope = { routeId: route.id, routeName: route.name, serviceId: service.id };
        const plugins = buildPlugins(
          config.global_rules ?? {},
          metadata.value,
          service,
          route.plugins,
          scope,
          metrics,
          deps,
          created,
        );
        const entry: RouteEntry = {
          id: route.id,
          name: route.name,
          ref: { id: route.id, name: route.name },
          service: { id: service.id, name: service.name },
          protocol: service.upstream.scheme,
          port: route.server_port,
          pool,
          plugins,
          metrics,
          match: parseRouteMatch(route),
          terminate: route.tls === "terminate",
          proxyProtocol: route.proxy_protocol === true,
        };
        const key = portKey(entry.protocol, entry.port);
        const list = byPort.get(key);
        if (list) list.push(entry);
        else byPort.set(key, [entry]);
        routeIds.add(route.id);
        routeCount++;
      }
    }

    const ports = new Map<string, PortRoutes>();
    const listeners: ListenerSpec[] = [];
    const refused: { spec: ListenerSpec; reason: string }[] = [];
    const listenAddr = canonicalAddress(deps.listenAddr);
    for (const [key, routes] of byPort) {
      ports.set(key, new PortRoutes(routes));
      const { protocol, port } = routes[0]!;
      // One socket per address the routes need. A wildcard listen address covers every server_addr
      // (routes then tell them apart by the connection's local address), and binding a specific address
      // next to the wildcard on the same port would fail with EADDRINUSE.
      const hosts = new Set<string>();
      const anyWithoutAddr = routes.some((r) => r.match.serverAddr === undefined);
      if (anyWithoutAddr) hosts.add(listenAddr);
      const wildcardCoversAll = anyWithoutAddr && WILDCARD_HOSTS.has(listenAddr);
      if (!wildcardCoversAll) {
        for (const r of routes) if (r.match.serverAddr !== undefined) hosts.add(r.match.serverAddr);
      }
      for (const r of routes) {
        const host = wildcardCoversAll || r.match.serverAddr === undefined ? listenAddr : r.match.serverAddr;
        r.metrics.listenOn(host, port);
      }
      for (const host of hosts) {
        const spec = { protocol, host, port };
        if (inRanges(port, config.stream_port_ranges)) listeners.push(spec);
        else refused.push({ spec, reason: "port is outside the gateway group's stream_port_ranges" });
      }
    }
    return new ConfigGeneration(
      config.version,
      ports,
      listeners,
      refused,
      pools,
      routeIds,
      routeCount,
      created,
      deps.logger,
      new ServerCertificates(config.ssls ?? [], previous?.certificates),
      new TrustedSources(config.real_ip_from ?? []),
    );
  } catch (error) {
    for (const { instance } of created) instance.dispose?.();
    throw error;
  }
}

function buildPlugins(
  globalRules: PluginMap,
  metadata: Record<string, Record<string, unknown>>,
  service: PublishedService,
  routePlugins: PublishedService["plugins"],
  scope: PluginScope,
  metrics: RouteMetrics,
  deps: GenerationDeps,
  created: { name: string; instance: PluginInstance }[],
): PluginSlot[] {
  // a group's global rules run on every route; a service's, then a route's own config of a plugin wins
  const merged = { ...globalRules, ...service.plugins, ...routePlugins };
  const slots: (PluginSlot & { priority: number })[] = [];
  for (const [name, rawConf] of Object.entries(merged)) {
    const plugin = deps.plugins.get(name);
    if (!plugin) throw new Error(`route ${scope.routeId}: unknown stream plugin '${name}'`);
    const checked = deps.pluginChecks.checkPluginConfig(name, rawConf, deps.plugins);
    if (!checked.ok) throw new Error(`route ${scope.routeId}: ${apiMessage(checked.problems[0]!)}`);
    if (pluginDisabled(checked.value)) continue;
    const instance = plugin.create(withoutMeta(checked.value), pluginEnv(deps, name, metrics, metadata[name]), scope);
    created.push({ name, instance });
    slots.push({ name, instance, priority: plugin.priority });
  }
  slots.sort((a, b) => b.priority - a.priority);
  return slots.map(({ name, instance }) => ({ name, instance }));
}
