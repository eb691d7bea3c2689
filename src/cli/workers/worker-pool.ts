/**
 * The primary of `--workers N`: starts N worker processes (`worker-data-plane.ts`), each a whole data
 * plane on its own event loop on the same ports, and keeps in one place what must be one per process:
 * - configs: every version goes to every worker; the pool's `apply` resolves once all of them serve it,
 *   and `ready()` is true only while every worker serves the newest version;
 * - health checks: run here, once per node, and the result sent to every worker (`HealthView`); the
 *   workers report connect outcomes back for the passive checks;
 * - limit-conn counts: held here, so `conn: 5` is 5 for the process (`ProcessCounts`); a worker that
 *   dies gives its counts back;
 * - metrics: `/metrics` is the sum of the workers' registries and the primary's own (health, build
 *   info), aggregated by prom-client's `AggregatorRegistry` with each family's `aggregator`;
 * - stop: every worker drains, then exits.
 * A worker that dies unasked is started again and given the current config.
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from "prom-client";
import type { GatewayConfig } from "../../config/types.ts";
import type { Logger } from "../../observability/logger.ts";
import { GatewayMetrics } from "../../observability/metrics.ts";
import type { SocketAdapter } from "../../proxy/adapter.ts";
import type { ApplyReport, GatewayReport, GatewayStatus } from "../../proxy/gateway.ts";
import { HealthChecks } from "../../proxy/health/health-checks.ts";
import type { ProxyCounters } from "../../proxy/session-gateway.ts";
import type { WorkerLink, WorkerProcesses } from "../runtime-edge.ts";
import { IpcPeer } from "./ipc-peer.ts";
import type { ConnectOutcome, HealthView, WorkerSettings, WorkerState } from "./protocol.ts";

type MetricFamilies = MetricObjectWithValues<MetricValue<string>>[];

/** how long `/metrics` waits for a worker's registry before summing without it */
const METRICS_WAIT_MS = 2000;
/** a worker that died unasked is started again after this long */
const RESTART_DELAY_MS = 500;
/** how long past the drain timeout a stopping worker may take before it is killed */
const STOP_GRACE_MS = 10_000;

interface WorkerSlot {
  id: number;
  link: WorkerLink;
  peer: IpcPeer;
  alive: boolean;
  /** initialised and given the current config: from here on it takes every call */
  started: boolean;
  /** the config version this worker last applied */
  version: number;
  state?: WorkerState;
  /** limit-conn counts this worker holds, given back when it dies */
  held: Map<string, number>;
}

export interface WorkerPoolOptions {
  count: number;
  processes: WorkerProcesses;
  settings: WorkerSettings;
  logger: Logger;
  /** the primary's adapter, for the health probes */
  adapter: SocketAdapter;
}

export class WorkerPool {
  /** the primary's own registry (build info, node health), summed with the workers' on `/metrics` */
  readonly metrics: GatewayMetrics;
  readonly health: HealthChecks;
  readonly count: number;
  private readonly slots: WorkerSlot[] = [];
  private readonly counts = new Map<string, number>();
  private config: GatewayConfig | undefined;
  private stopping = false;
  private healthQueued = false;

  constructor(private readonly options: WorkerPoolOptions) {
    this.count = options.count;
    this.metrics = new GatewayMetrics(options.settings.metrics);
    this.health = new HealthChecks(options.adapter, options.logger, () => this.queueHealthView());
    this.metrics.setHealthSource(() => this.health.snapshot({ includeUnchecked: true }));
  }

  /** what the status endpoint calls this data plane's adapter */
  get adapterName(): string {
    return `${this.options.adapter.name} ×${this.count} workers`;
  }

  /** starts every worker and resolves once all of them are ready for a config */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, (_, i) => this.startWorker(i + 1)));
    this.options.logger.info(
      { workers: this.count, pids: this.slots.map((s) => s.link.pid), ports: this.options.processes.portSharing },
      "workers started",
    );
  }

  private async startWorker(id: number): Promise<void> {
    const link = this.options.processes.spawn(id);
    const slot: WorkerSlot = {
      id,
      link,
      peer: new IpcPeer((message) => link.send(message)),
      alive: true,
      started: false,
      version: -1,
      held: new Map(),
    };
    this.slots[id - 1] = slot;
    link.onMessage((message) => slot.peer.receive(message));
    link.onExit((code, signal) => this.exited(slot, code, signal));
    slot.peer.handle("acquire", (key) => this.acquire(slot, key as string));
    slot.peer.handle("release", (key) => this.release(slot, key as string));
    slot.peer.handle("connect", (body) => {
      const { service, node, outcome } = body as ConnectOutcome;
      this.health.reportConnect(service, node, outcome);
    });
    slot.peer.handle("state", (body) => {
      slot.state = body as WorkerState;
    });
    // a message sent before the worker listens is lost: it says when it does
    await new Promise<void>((resolve, reject) => {
      slot.peer.handle("listening", () => resolve());
      link.onExit((code) => reject(new Error(`worker ${id} exited with ${code} while starting`)));
    });
    await slot.peer.call("init", this.options.settings);
    slot.peer.notify("health", this.healthView());
    // a version that arrived while this one was applied is applied next (`apply` skips workers starting)
    while (this.config && slot.version < this.config.version) await this.applyTo(slot, this.config);
    slot.started = true;
  }

  private exited(slot: WorkerSlot, code: number | null, signal: string | null): void {
    slot.alive = false;
    slot.started = false;
    slot.peer.close(`worker ${slot.id} exited`);
    for (const [key, n] of slot.held) this.release(slot, key, n);
    if (this.stopping) return;
    this.options.logger.error(
      { worker: slot.id, pid: slot.link.pid, code, signal },
      "worker exited; starting it again",
    );
    setTimeout(() => {
      if (this.stopping) return;
      this.startWorker(slot.id).catch((error: Error) =>
        this.options.logger.error({ worker: slot.id, reason: error.message }, "worker could not be started again"),
      );
    }, RESTART_DELAY_MS);
  }

  private acquire(slot: WorkerSlot, key: string): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    slot.held.set(key, (slot.held.get(key) ?? 0) + 1);
    return n;
  }

  private release(slot: WorkerSlot, key: string, by = 1): void {
    const held = (slot.held.get(key) ?? 0) - by;
    if (held > 0) slot.held.set(key, held);
    else slot.held.delete(key);
    const n = (this.counts.get(key) ?? 0) - by;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }

  private async applyTo(slot: WorkerSlot, config: GatewayConfig): Promise<ApplyReport> {
    const report = (await slot.peer.call("apply", config)) as ApplyReport;
    slot.version = Math.max(slot.version, config.version);
    return report;
  }

  /**
   * Gives the config to every worker; resolves with the first worker's report once all serve it, and
   * rejects (the workers keep their previous version) when it cannot be applied.
   */
  async apply(config: GatewayConfig): Promise<ApplyReport> {
    if (this.stopping) throw new Error("the gateway is stopping");
    this.config = config;
    const reports = await Promise.all(this.running().map((s) => this.applyTo(s, config)));
    this.health.apply(config);
    // with every worker being started again, they take this config when they are back
    return reports[0] ?? { version: config.version, routes: 0, opened: [], closed: [], failed: [] };
  }

  /** true while every worker runs and serves the newest config given to the pool */
  ready(): boolean {
    const version = this.config?.version;
    if (version === undefined || this.stopping) return false;
    return this.slots.length === this.count && this.slots.every((s) => s.started && s.version >= version);
  }

  private queueHealthView(): void {
    if (this.healthQueued) return;
    this.healthQueued = true;
    queueMicrotask(() => {
      this.healthQueued = false;
      const view = this.healthView();
      for (const slot of this.running()) slot.peer.notify("health", view);
    });
  }

  private healthView(): HealthView {
    const down: [string, string][] = [];
    for (const service of this.health.snapshot()) {
      for (const node of service.nodes) if (!node.healthy) down.push([service.service_id, node.node]);
    }
    return { down, passive: this.health.passiveServices() };
  }

  /** the workers' reports as one: listeners as the first worker has them, connections summed, health from here */
  report(): GatewayReport {
    const states = this.states();
    const health = this.health.statusByService();
    return {
      listeners: states[0]?.report.listeners ?? [],
      active_connections: states.reduce((sum, s) => sum + s.report.active_connections, 0),
      health,
    };
  }

  /** the workers' statuses summed, the version being the one every worker serves, and each worker's own line */
  status(): GatewayStatus & { workers: { id: number; pid: number; version: number; active_connections: number }[] } {
    const states = this.states();
    const first = states[0]?.status;
    const counters = {} as ProxyCounters;
    for (const s of states) {
      for (const [name, value] of Object.entries(s.status.counters) as [keyof ProxyCounters, number][]) {
        counters[name] = (counters[name] ?? 0) + value;
      }
    }
    return {
      gatewayGroup: first?.gatewayGroup ?? this.options.settings.gatewayGroup,
      adapter: this.adapterName,
      version: states.length === this.count ? Math.min(...states.map((s) => s.status.version)) : -1,
      routes: first?.routes ?? 0,
      listeners: first?.listeners ?? [],
      activeConnections: states.reduce((sum, s) => sum + s.status.activeConnections, 0),
      activeUdpSessions: states.reduce((sum, s) => sum + s.status.activeUdpSessions, 0),
      draining: states.reduce((sum, s) => sum + s.status.draining, 0),
      counters,
      workers: this.slots.map((slot) => ({
        id: slot.id,
        pid: slot.link.pid,
        version: slot.alive ? slot.version : -1,
        active_connections: slot.state?.status.activeConnections ?? 0,
      })),
    };
  }

  private states(): WorkerState[] {
    return this.running()
      .filter((s) => s.state)
      .map((s) => s.state!);
  }

  /** the workers that take calls (not starting, not gone) */
  private running(): WorkerSlot[] {
    return this.slots.filter((s) => s?.started);
  }

  /** every worker's registry and the primary's, summed */
  async aggregated(): Promise<Registry> {
    const families = await Promise.all(
      this.running().map((s) => withinMs(s.peer.call("metrics") as Promise<MetricFamilies>, METRICS_WAIT_MS)),
    );
    const own = await this.metrics.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...families.filter((f): f is MetricFamilies => f !== undefined)]);
  }

  async metricsText(): Promise<string> {
    return (await this.aggregated()).metrics();
  }

  /** for the dashboard's traffic charts: the summed registry in the shape it reads */
  trafficSource(): { prefix: string; registry: { getMetricsAsJSON(): Promise<MetricFamilies> } } {
    return {
      prefix: this.metrics.prefix,
      registry: {
        getMetricsAsJSON: async () => (await (await this.aggregated()).getMetricsAsJSON()) as MetricFamilies,
      },
    };
  }

  /** every worker stops accepting, drains (up to the drain timeout) and exits; then the checks stop */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(
      this.slots
        .filter((s) => s.alive)
        .map(async (slot) => {
          const exited = new Promise<void>((resolve) => slot.link.onExit(() => resolve()));
          // a worker still starting has nothing to drain (and may not hear the call yet)
          if (!slot.started) slot.link.kill("SIGKILL");
          else
            slot.peer
              .call("stop")
              .catch((error: Error) =>
                this.options.logger.warn({ worker: slot.id, reason: error.message }, "worker stop failed"),
              );
          // it exits by itself after draining; one that hangs is killed
          const timer = setTimeout(
            () => slot.link.kill("SIGKILL"),
            this.options.settings.drainTimeoutMs + STOP_GRACE_MS,
          );
          await exited;
          clearTimeout(timer);
        }),
    );
    this.health.stop();
    this.options.logger.info({ workers: this.count }, "workers stopped");
  }
}

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.catch(() => undefined),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
