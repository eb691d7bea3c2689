/**
 * The gateway: the whole data plane of one process. It applies `GatewayConfig` versions live, owns the
 * listeners, its health checks, its metrics and the plugins' environment, and runs the pipeline of
 * DESIGN.md §4 for every connection and UDP session, on whatever runtime the `SocketAdapter` wraps.
 * `sluice start` and `sluice gateway` both build one and feed it configs; nothing else is assembled
 * around it.
 *
 * Apply is atomic: the new version is compiled next to the running one (plugins created, routes sorted,
 * upstream pools built) and swapped in with one assignment; only then are listeners opened and closed
 * to match. A compile error leaves the running version untouched. Connections keep the version they
 * started with; those whose route is gone get `drainTimeoutMs`, then are closed.
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/types.ts";
import { formatHostPort } from "../net/addresses.ts";
import { GatewayMetrics, listenAddrLabel, type MetricsOptions } from "../observability/metrics.ts";
import type { AddressInfo, SocketAdapter, TcpListener } from "./adapter.ts";
import {
  type ConfigGeneration,
  compileGeneration,
  type ListenerSpec,
  listenerKey,
  type PluginChecks,
} from "./config-generation.ts";
import { HealthChecks } from "./health/health-checks.ts";
import type { NodeHealth } from "./health/types.ts";
import { LatestWinsQueue } from "./latest-wins-queue.ts";
import { streamPlugins } from "./plugins/index.ts";
import type { ProcessCounts, StreamPlugin } from "./plugins/types.ts";
import type { PortRoutes } from "./router.ts";
import { emptyCounters, type ProxyCounters, type SweptSession } from "./session-gateway.ts";
import { acceptTcp } from "./tcp-session.ts";
import { timerDelay } from "./timer-delay.ts";
import { UdpListener, type UdpListenerGateway } from "./udp-listener.ts";

export interface GatewayOptions {
  adapter: SocketAdapter;
  logger: Logger;
  gatewayGroup: string;
  /** how long connections of a removed route (or of a stopping gateway) may go on; default 30000 */
  drainTimeoutMs?: number;
  /** listen address for routes without `server_addr`; default `0.0.0.0` */
  listenAddr?: string;
  /** what the balancers ask about node health; default the gateway's own `health` checks */
  nodeHealth?: NodeHealth;
  /** prefix, version and runtime of this gateway's metrics */
  metrics?: MetricsOptions;
  reusePort?: boolean;
  /** the plugin registry; default the built-in `streamPlugins` */
  // biome-ignore lint/suspicious/noExplicitAny: plugins have heterogeneous config types
  plugins?: ReadonlyMap<string, StreamPlugin<any>>;
  /**
   * the most time a client gets to send its TLS ClientHello on a port with `sni` routes, or the first
   * message a plugin reads in preread (mqtt-proxy's CONNECT); default 5000
   */
  sniTimeoutMs?: number;
  /** UDP sessions per listener before the least recently active is evicted; default 10000 */
  udpMaxSessions?: number;
  /** how often idle timeouts and drain deadlines are checked; default 500 ms */
  sweepIntervalMs?: number;
  /**
   * TCP connections and UDP sessions this gateway holds at once (`--max-connections`); past it a new TCP
   * connection is closed at once and a new UDP session evicts the listener's oldest idle one or is
   * dropped. Default: no limit (the CLI always derives one from the fd limit).
   */
  maxConnections?: number;
  /**
   * run the active and passive health checks here (default true); a worker of several leaves them to its
   * primary and is given the result through `nodeHealth`, so each node is probed once per process
   */
  runHealthChecks?: boolean;
  /** counts shared by the workers of a process (limit-conn), held by the primary */
  processCounts?: ProcessCounts;
}

export type ListenerState = "listening" | "error" | "refused";

export interface ListenerStatus {
  protocol: "tcp" | "udp";
  /** `host:port` (`[v6]:port`), the bound port when 0 was asked for */
  addr: string;
  address: string;
  port: number;
  state: ListenerState;
  error?: string;
}

export interface ApplyReport {
  version: number;
  routes: number;
  opened: ListenerStatus[];
  closed: ListenerStatus[];
  /** listeners that could not be opened (in use, no permission, outside the port ranges) */
  failed: ListenerStatus[];
}

export interface GatewayStatus {
  gatewayGroup: string;
  adapter: string;
  /** applied config version; -1 before the first apply */
  version: number;
  appliedAt?: string;
  routes: number;
  listeners: ListenerStatus[];
  activeConnections: number;
  activeUdpSessions: number;
  /** removed routes' connections still draining */
  draining: number;
  counters: ProxyCounters;
}

/** What heartbeats and the status endpoint say about this data plane. */
export interface GatewayReport {
  listeners: { protocol: string; addr: string; state: string; error?: string }[];
  active_connections: number;
  /** `{ serviceId: { "host:port": "healthy" | "unhealthy" } }` for services with checks */
  health: Record<string, Record<string, string>>;
}

interface OpenListener {
  spec: ListenerSpec;
  state: ListenerState;
  error?: string;
  tcp?: TcpListener;
  udp?: UdpListener;
}

export class Gateway implements UdpListenerGateway {
  readonly adapter: SocketAdapter;
  readonly logger: Logger;
  /** active and passive checks of the applied config's upstream nodes */
  readonly health: HealthChecks;
  /** this gateway's own registry: two gateways in one process share no counters */
  readonly metrics: GatewayMetrics;
  readonly sniTimeoutMs: number;
  readonly udpMaxSessions: number;
  readonly maxConnections: number;
  readonly counters: ProxyCounters = emptyCounters();
  sweepEpoch = 0;

  private readonly drainTimeoutMs: number;
  private readonly listenAddr: string;
  private readonly nodeHealth: NodeHealth;
  private readonly reusePort: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: plugins have heterogeneous config types
  private readonly plugins: ReadonlyMap<string, StreamPlugin<any>>;
  private readonly sharedState = new Map<string, Map<string, unknown>>();
  private readonly sweepIntervalMs: number;
  private readonly gatewayGroup: string;
  private readonly runHealthChecks: boolean;
  private readonly processCounts: ProcessCounts | undefined;
  private pluginChecks: PluginChecks | undefined;

  private generation: ConfigGeneration | undefined;
  private appliedAt: Date | undefined;
  private readonly listeners = new Map<string, OpenListener>();
  private readonly sessions = new Set<SweptSession>();
  private tcpCount = 0;
  private udpCount = 0;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly applies = new LatestWinsQueue((config: GatewayConfig) => this.applyNow(config));
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  private lastLimitLog = 0;
  private refusedSinceLog = 0;

  constructor(options: GatewayOptions) {
    this.adapter = options.adapter;
    this.logger = options.logger;
    this.gatewayGroup = options.gatewayGroup;
    this.drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.listenAddr = options.listenAddr ?? "0.0.0.0";
    this.health = new HealthChecks(options.adapter, options.logger);
    this.nodeHealth = options.nodeHealth ?? this.health;
    this.metrics = new GatewayMetrics(options.metrics);
    this.runHealthChecks = options.runHealthChecks ?? true;
    this.processCounts = options.processCounts;
    if (this.runHealthChecks) this.metrics.setHealthSource(() => this.health.snapshot({ includeUnchecked: true }));
    this.reusePort = options.reusePort ?? false;
    this.plugins = options.plugins ?? streamPlugins;
    this.sniTimeoutMs = options.sniTimeoutMs ?? 5_000;
    this.udpMaxSessions = options.udpMaxSessions ?? 10_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 500;
    this.maxConnections = options.maxConnections ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.maxConnections)) this.metrics.maxConnections.set(this.maxConnections);
  }

  hasRoom(): boolean {
    return this.tcpCount + this.udpCount < this.maxConnections;
  }

  /**
   * A connection or UDP session turned away because the connection budget is full: counted, and logged
   * at most once a second (a flood must not become a log flood).
   */
  refusedAtLimit(protocol: "tcp" | "udp"): void {
    this.counters.refusedAtLimit++;
    this.metrics.connectionsRefused.inc({ protocol, reason: "limit" });
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastLimitLog < 1000) return;
    this.lastLimitLog = now;
    this.logger.warn(
      { max_connections: this.maxConnections, refused: this.refusedSinceLog, last_protocol: protocol },
      "connection limit reached: new connections refused",
    );
    this.refusedSinceLog = 0;
  }

  noRoute(protocol: "tcp" | "udp", local: AddressInfo): void {
    if (protocol === "tcp") this.counters.tcpNoRoute++;
    else this.counters.udpNoRoute++;
    this.metrics.unmatched.inc({ listen_addr: listenAddrLabel(local.address, local.port) });
  }

  /** the applied config; replaced (a new object) by every apply */
  get currentGeneration(): ConfigGeneration | undefined {
    return this.generation;
  }

  routesOn(protocol: "tcp" | "udp", port: number): { generation: ConfigGeneration; table: PortRoutes } | undefined {
    const generation = this.generation;
    const table = generation?.routesOn(protocol, port);
    if (!generation || !table || this.stopping) return undefined;
    return { generation, table };
  }

  /**
   * Applies a config, one at a time: a config offered while another is being applied waits, and is
   * skipped when a newer one arrives meanwhile (its promise then settles as the newer one's). Rejects,
   * changing nothing, when it cannot be compiled.
   */
  apply(config: GatewayConfig): Promise<ApplyReport> {
    return this.applies.offer(config);
  }

  private async applyNow(config: GatewayConfig): Promise<ApplyReport> {
    // the checks (and zod with them) load with the first config, not with the gateway's start
    this.pluginChecks ??= await import("../config/plugin-config.ts");
    const pluginChecks = this.pluginChecks;
    if (this.stopping) throw new Error("the gateway is stopping");
    const previous = this.generation;
    const next = compileGeneration(
      config,
      {
        logger: this.logger,
        adapter: this.adapter,
        gatewayGroup: this.gatewayGroup,
        health: this.nodeHealth,
        plugins: this.plugins,
        metrics: this.metrics,
        sharedState: this.sharedState,
        listenAddr: this.listenAddr,
        processCounts: this.processCounts,
        pluginChecks,
      },
      previous,
    );
    // The swap: from here on every new connection and session routes with `next`.
    this.generation = next;
    this.appliedAt = new Date();
    previous?.retire();
    this.startSweep();

    const now = Date.now();
    for (const session of this.sessions) {
      const id = session.routeId;
      if (id !== undefined && !next.routeIds.has(id) && session.drainAt === 0)
        session.drainAt = now + this.drainTimeoutMs;
    }

    const report: ApplyReport = {
      version: config.version,
      routes: next.routeCount,
      opened: [],
      closed: [],
      failed: [],
    };
    const wanted = new Map(next.listeners.map((spec) => [listenerKey(spec), spec]));
    for (const key of [...this.listeners.keys()]) if (!wanted.has(key)) await this.closeListener(key, report);
    for (const { spec, reason } of next.refused) {
      const entry: OpenListener = { spec, state: "refused", error: reason };
      this.listeners.set(listenerKey(spec), entry);
      report.failed.push(this.describe(entry));
      this.logger.error({ protocol: spec.protocol, addr: spec.host, port: spec.port, reason }, "listener refused");
    }
    await Promise.all(
      [...wanted].map(async ([key, spec]) => {
        const existing = this.listeners.get(key);
        if (existing?.state === "listening") return;
        const open = await this.openListener(spec);
        this.listeners.set(key, open);
        if (open.state === "listening") report.opened.push(this.describe(open));
        else report.failed.push(this.describe(open));
      }),
    );
    if (this.runHealthChecks) this.health.apply(config);
    this.metrics.setConfigVersion(config.gateway_group.name, config.version);
    this.metrics.setCertificates(next.certificates.expiries());
    this.logger.info(
      {
        version: config.version,
        routes: next.routeCount,
        opened: report.opened.length,
        closed: report.closed.length,
        failed: report.failed.length,
      },
      "gateway config applied",
    );
    return report;
  }

  private describe(open: OpenListener): ListenerStatus {
    const address = open.tcp?.address.address ?? open.udp?.socket?.address.address ?? open.spec.host;
    const port = open.tcp?.address.port ?? open.udp?.socket?.address.port ?? open.spec.port;
    const addr = formatHostPort(address, port);
    const status: ListenerStatus = { protocol: open.spec.protocol, addr, address, port, state: open.state };
    if (open.error !== undefined) status.error = open.error;
    return status;
  }

  private async openListener(spec: ListenerSpec): Promise<OpenListener> {
    try {
      if (spec.protocol === "tcp") {
        // the port's route table, looked up once per applied generation rather than once per connection
        let tableOf: ConfigGeneration | undefined;
        let table: PortRoutes | undefined;
        const tcp = await this.adapter.listenTcp(
          { host: spec.host, port: spec.port, reusePort: this.reusePort },
          (connection) => {
            if (!this.hasRoom()) {
              this.refusedAtLimit("tcp");
              connection.destroy();
              return;
            }
            const generation = this.generation;
            if (generation !== tableOf) {
              tableOf = generation;
              table = generation?.routesOn("tcp", spec.port);
            }
            if (!generation || !table || this.stopping) {
              this.noRoute("tcp", connection.local);
              connection.destroy();
              return;
            }
            acceptTcp(this, generation, table, connection);
          },
        );
        this.logger.info(
          { protocol: "tcp", addr: `${tcp.address.address}:${tcp.address.port}` },
          "stream listener open",
        );
        return { spec, state: "listening", tcp };
      }
      const udp = new UdpListener(this, spec.port);
      udp.socket = await this.adapter.bindUdp(
        { host: spec.host, port: spec.port, reusePort: this.reusePort },
        udp.onMessage,
      );
      const a = udp.socket.address;
      this.logger.info({ protocol: "udp", addr: `${a.address}:${a.port}` }, "stream listener open");
      return { spec, state: "listening", udp };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const message = code ? `${code}: ${(error as Error).message}` : (error as Error).message;
      this.logger.error(
        { protocol: spec.protocol, addr: spec.host, port: spec.port, reason: message },
        "stream listener could not be opened",
      );
      return { spec, state: "error", error: message };
    }
  }

  /**
   * Stops accepting on a listener. TCP connections it accepted carry on (their routes are gone, so they
   * drain); a UDP listener's sessions need its socket to reply, so it stays bound, not routing new
   * sessions, until they have drained.
   */
  private async closeListener(key: string, report: ApplyReport | undefined): Promise<void> {
    const open = this.listeners.get(key);
    if (!open) return;
    this.listeners.delete(key);
    if (open.state === "listening") report?.closed.push(this.describe(open));
    if (open.tcp) await open.tcp.close();
    const udp = open.udp;
    if (udp) {
      if (udp.sessions.size === 0 || this.stopping) {
        udp.closeAll("stopped");
        udp.socket?.close();
      } else this.closeUdpWhenDrained(udp);
    }
    if (open.state === "listening") {
      this.logger.info({ protocol: open.spec.protocol, addr: this.describe(open).addr }, "stream listener closed");
    }
  }

  private closeUdpWhenDrained(udp: UdpListener): void {
    const check = setInterval(() => {
      if (udp.sessions.size > 0 && !this.stopping) return;
      clearInterval(check);
      udp.closeAll("stopped");
      udp.socket?.close();
    }, timerDelay(this.sweepIntervalMs));
    check.unref?.();
  }

  // ---- SessionGateway ----

  sessionStarted(session: SweptSession): void {
    this.sessions.add(session);
    if (session.protocol === "tcp") this.tcpCount++;
    else this.udpCount++;
  }

  sessionEnded(session: SweptSession): void {
    if (!this.sessions.delete(session)) return;
    if (session.protocol === "tcp") this.tcpCount--;
    else this.udpCount--;
    if (this.sessions.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private startSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), timerDelay(this.sweepIntervalMs));
    this.sweepTimer.unref?.();
  }

  private sweep(): void {
    this.sweepEpoch++;
    const now = Date.now();
    for (const session of this.sessions) session.sweep(now);
  }

  status(): GatewayStatus {
    let draining = 0;
    for (const s of this.sessions) if (s.drainAt !== 0) draining++;
    const status: GatewayStatus = {
      gatewayGroup: this.gatewayGroup,
      adapter: this.adapter.name,
      version: this.generation?.version ?? -1,
      routes: this.generation?.routeCount ?? 0,
      listeners: [...this.listeners.values()].map((l) => this.describe(l)),
      activeConnections: this.tcpCount,
      activeUdpSessions: this.udpCount,
      draining,
      counters: { ...this.counters },
    };
    if (this.appliedAt) status.appliedAt = this.appliedAt.toISOString();
    return status;
  }

  report(): GatewayReport {
    const health = this.health.statusByService();
    return {
      listeners: [...this.listeners.values()].map((l) => {
        const { protocol, addr, state, error } = this.describe(l);
        return error === undefined ? { protocol, addr, state } : { protocol, addr, state, error };
      }),
      active_connections: this.tcpCount,
      health,
    };
  }

  /**
   * Stops accepting, lets connections finish for up to the drain timeout, then closes the rest and
   * stops the health checks.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.applies.idle();
    for (const key of [...this.listeners.keys()]) await this.closeListener(key, undefined);
    if (this.sessions.size > 0) {
      const deadline = Date.now() + this.drainTimeoutMs;
      for (const s of this.sessions) if (s.drainAt === 0 || s.drainAt > deadline) s.drainAt = deadline;
      this.startSweep();
      // Drained sessions are reset at the deadline; one still connecting upstream ends when its connect
      // attempt does, so stop waits a little past the deadline, not for every connect timeout.
      let cap: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          cap = setTimeout(resolve, timerDelay(this.drainTimeoutMs + 2000));
        }),
      ]);
      clearTimeout(cap);
      if (this.sessions.size > 0) this.logger.warn({ left: this.sessions.size }, "stopped with sessions still ending");
    }
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.generation?.retire();
    this.health.stop();
    this.logger.info({ version: this.generation?.version ?? -1 }, "gateway stopped");
  }
}
