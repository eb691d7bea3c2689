/**
 * `HealthChecks`: the `NodeHealth` the pipeline asks, fed by active TCP/UDP probes and passive connect
 * reports, following each published service's `upstream.checks`. `apply` is called with every config
 * the gateway applies: it starts checkers for new services, restarts those whose checks changed, stops
 * those that went away, and keeps the state of every node that stays (a re-publish does not bring a
 * dead node back).
 */
import type { Logger } from "pino";
import type { HealthCheckType } from "../../config/schema.ts";
import type { GatewayConfig } from "../../config/types.ts";
import type { SocketAdapter } from "../adapter.ts";
import { nodeName } from "../upstream-pool.ts";
import { ActiveChecker } from "./active-checker.ts";
import { type NodeCounters, NodeState, type NodeStatus } from "./node-state.ts";
import { PassiveChecker } from "./passive-checker.ts";
import { createProbe } from "./probe-registry.ts";
import type { TrackedNode, TrackedService } from "./tracked-service.ts";
import type { NodeHealth } from "./types.ts";

export interface NodeHealthSnapshot {
  /** `host:port` (`[v6]:port`), as the pipeline names nodes (`nodeName`) */
  node: string;
  healthy: boolean;
  /** APISIX's words: `healthy`, `mostly_healthy` (failures counting up), `unhealthy`, `mostly_unhealthy` */
  status: NodeStatus;
  counters: NodeCounters;
  /** ISO time of the last change (or of the start of tracking) */
  last_change: string;
  reason: string;
}

export interface ServiceHealthSnapshot {
  service_id: string;
  service_name: string;
  /** which checks run: `active` (`tcp`/`udp`), `passive` */
  checks: { active?: HealthCheckType; passive: boolean };
  nodes: NodeHealthSnapshot[];
}

interface ServiceCheckers {
  tracked: TrackedService;
  /** the checks as applied, to tell whether a new config changed them */
  checksKey: string;
  active?: ActiveChecker;
  passive?: PassiveChecker;
}

export class HealthChecks implements NodeHealth {
  private readonly services = new Map<string, ServiceCheckers>();
  /** services without `checks`: their nodes are always in the balancer, which metrics show as healthy */
  private unchecked: { id: string; name: string; nodes: string[]; since: string }[] = [];

  constructor(
    private readonly adapter: SocketAdapter,
    private readonly logger: Logger,
    /** a node changed state, or a config changed which nodes are checked (the workers' primary passes it on) */
    private readonly onChange?: () => void,
  ) {}

  isHealthy(serviceId: string, node: string): boolean {
    return this.services.get(serviceId)?.tracked.nodes.get(node)?.state.healthy ?? true;
  }

  reportConnect(serviceId: string, node: string, outcome: "ok" | "failure" | "timeout"): void {
    this.services.get(serviceId)?.passive?.report(node, outcome);
  }

  apply(config: GatewayConfig): void {
    const seen = new Set<string>();
    const since = new Date().toISOString();
    this.unchecked = [];
    for (const service of config.services) {
      const checks = service.upstream.checks;
      if (!checks) {
        this.unchecked.push({ id: service.id, name: service.name, nodes: service.upstream.nodes.map(nodeName), since });
        continue;
      }
      seen.add(service.id);
      const checksKey = JSON.stringify([checks, service.upstream.tls]);
      const current = this.services.get(service.id);
      const nodes = new Map<string, TrackedNode>();
      for (const upstreamNode of service.upstream.nodes) {
        const { host, port } = upstreamNode;
        const name = nodeName(upstreamNode);
        const kept = current?.tracked.nodes.get(name);
        nodes.set(name, kept ?? { host, port, state: new NodeState(), nextProbeAt: 0, probing: false });
      }
      if (current && current.checksKey === checksKey) {
        current.tracked.name = service.name;
        current.tracked.nodes = nodes;
        continue;
      }
      current?.active?.stop();
      const tracked: TrackedService = { id: service.id, name: service.name, checks, nodes };
      const entry: ServiceCheckers = { tracked, checksKey };
      if (checks.passive) entry.passive = new PassiveChecker(tracked, this.onFlip);
      if (checks.active) {
        entry.active = new ActiveChecker(
          tracked,
          createProbe(this.adapter, checks.active, service.upstream.tls),
          this.onFlip,
        );
        entry.active.start();
      }
      this.services.set(service.id, entry);
      this.logger.info(
        { service: service.id, active: checks.active?.type, passive: checks.passive !== undefined, nodes: nodes.size },
        current ? "health checks changed" : "health checks started",
      );
    }
    for (const [id, entry] of this.services) {
      if (seen.has(id)) continue;
      entry.active?.stop();
      this.services.delete(id);
      this.logger.info({ service: id }, "health checks stopped");
    }
    this.onChange?.();
  }

  stop(): void {
    for (const entry of this.services.values()) entry.active?.stop();
    this.services.clear();
  }

  /**
   * Node health of the services with checks; with `includeUnchecked`, also the nodes of services without
   * checks, as healthy (they always take traffic) — what the `upstream_status` metric shows.
   */
  /** services with passive checks: the connect outcomes worth reporting */
  passiveServices(): string[] {
    return [...this.services].filter(([, entry]) => entry.passive).map(([id]) => id);
  }

  /** `{ serviceId: { "host:port": "healthy" | "unhealthy" } }` for the services with checks (a gateway's report) */
  statusByService(): Record<string, Record<string, string>> {
    const health: Record<string, Record<string, string>> = {};
    for (const service of this.snapshot()) {
      const nodes: Record<string, string> = {};
      for (const n of service.nodes) nodes[n.node] = n.status;
      health[service.service_id] = nodes;
    }
    return health;
  }

  snapshot(options: { includeUnchecked?: boolean } = {}): ServiceHealthSnapshot[] {
    const out: ServiceHealthSnapshot[] = [];
    if (options.includeUnchecked) {
      for (const service of this.unchecked) {
        out.push({
          service_id: service.id,
          service_name: service.name,
          checks: { passive: false },
          nodes: service.nodes.map((node) => ({
            node,
            healthy: true,
            status: "healthy",
            counters: { success: 0, tcp_failure: 0, timeout: 0 },
            last_change: service.since,
            reason: "no health checks",
          })),
        });
      }
    }
    for (const { tracked } of this.services.values()) {
      const nodes: NodeHealthSnapshot[] = [];
      for (const [node, { state }] of tracked.nodes) {
        nodes.push({
          node,
          healthy: state.healthy,
          status: state.status,
          counters: { ...state.counters },
          last_change: new Date(state.lastChange).toISOString(),
          reason: state.lastReason,
        });
      }
      out.push({
        service_id: tracked.id,
        service_name: tracked.name,
        checks: { active: tracked.checks.active?.type, passive: tracked.checks.passive !== undefined },
        nodes,
      });
    }
    return out;
  }

  private readonly onFlip = (service: TrackedService, node: string, tracked: TrackedNode): void => {
    const { state } = tracked;
    const fields = { service: service.id, service_name: service.name, node, reason: state.lastReason };
    this.onChange?.();
    if (state.healthy) {
      this.logger.info(fields, "upstream node healthy");
      return;
    }
    this.logger.warn(fields, "upstream node unhealthy");
    let anyHealthy = false;
    for (const other of service.nodes.values()) anyHealthy ||= other.state.healthy;
    if (!anyHealthy) this.logger.error({ service: service.id }, "no healthy upstream node: balancers use all nodes");
  };
}
