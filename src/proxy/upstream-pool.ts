/**
 * The upstream of one published service as the data plane uses it for one config version: its nodes in
 * priority groups (highest first), one balancer per group, the health filter, and the retry and timeout
 * settings in the units the pipeline wants. Built at apply; reused by the next apply when the service's
 * upstream did not change, so balancer state (round-robin position, connection counts) carries over.
 */
import type { Logger } from "pino";
import type { UpstreamNode } from "../config/schema.ts";
import type { CompiledUpstream } from "../config/types.ts";
import { formatHostPort } from "../net/addresses.ts";
import { type BalanceContext, type Balancer, createBalancer } from "./balancer/index.ts";
import type { NodeHealth } from "./health/types.ts";

/** `timeout.fin` when absent: long enough for a peer to finish its answer, short enough not to hoard sockets */
export const DEFAULT_FIN_TIMEOUT_SECONDS = 10;

interface PriorityGroup {
  priority: number;
  balancer: Balancer;
}

/** `host:port`, with brackets for IPv6, as health checks and logs name a node */
export function nodeName(node: UpstreamNode): string {
  return formatHostPort(node.host, node.port);
}

function anyNode(): boolean {
  return true;
}

export class UpstreamPool {
  readonly scheme: "tcp" | "udp";
  readonly nodes: readonly UpstreamNode[];
  /** connect attempts after the first one (connect failures only) */
  readonly retries: number;
  /** ms across all attempts; 0 = no limit */
  readonly retryTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** idle timeout = max(send, read) */
  readonly idleTimeoutMs: number;
  /**
   * the idle timeout once either side of a TCP connection has closed its half (HAProxy `timeout
   * client-fin` / `server-fin`): `timeout.fin`, default 10 s, never longer than the idle timeout
   */
  readonly finTimeoutMs: number;
  /** UDP: datagrams from the node that end a session (nginx `proxy_responses`); undefined = idle timeout only */
  readonly udpResponses: number | undefined;
  private readonly groups: PriorityGroup[];
  private readonly names = new Map<UpstreamNode, string>();
  private readonly groupOf = new Map<UpstreamNode, Balancer>();
  private lastAllUnhealthyLog = 0;

  constructor(
    readonly serviceId: string,
    readonly upstream: CompiledUpstream,
    private readonly health: NodeHealth,
    private readonly logger: Logger,
  ) {
    this.scheme = upstream.scheme;
    this.nodes = upstream.nodes;
    for (const node of upstream.nodes) this.names.set(node, nodeName(node));
    const usableNodes = upstream.nodes.filter((n) => n.weight > 0);
    this.retries = upstream.retries ?? Math.max(0, usableNodes.length - 1);
    this.retryTimeoutMs = (upstream.retry_timeout ?? 0) * 1000;
    this.connectTimeoutMs = upstream.timeout.connect * 1000;
    this.idleTimeoutMs = Math.max(upstream.timeout.send, upstream.timeout.read) * 1000;
    this.finTimeoutMs = Math.min(this.idleTimeoutMs, (upstream.timeout.fin ?? DEFAULT_FIN_TIMEOUT_SECONDS) * 1000);
    this.udpResponses = upstream.udp?.responses;
    const priorities = [...new Set(upstream.nodes.map((n) => n.priority))].sort((a, b) => b - a);
    const options = { key: upstream.key, hashOn: upstream.hash_on };
    this.groups = priorities.map((priority) => {
      const members = upstream.nodes.filter((n) => n.priority === priority);
      const balancer = createBalancer(upstream.type, members, options);
      for (const node of members) this.groupOf.set(node, balancer);
      return { priority, balancer };
    });
  }

  name(node: UpstreamNode): string {
    return this.names.get(node) ?? nodeName(node);
  }

  /**
   * A node for a new connection: highest priority group first, healthy nodes not in `tried` first.
   * When every untried node is unhealthy, health is ignored (a gateway that refuses everything helps
   * nobody) and that is logged, at most once a second.
   */
  pick(context: BalanceContext, tried: ReadonlySet<UpstreamNode> | undefined): UpstreamNode | undefined {
    // the filters of a first attempt (nothing tried yet) are made once per pool, not per connection
    const healthy =
      tried === undefined ? this.isHealthy : (node: UpstreamNode) => !tried.has(node) && this.isHealthy(node);
    for (const group of this.groups) {
      const node = group.balancer.pick(context, healthy);
      if (node) return node;
    }
    const untried = tried === undefined ? anyNode : (node: UpstreamNode) => !tried.has(node);
    for (const group of this.groups) {
      const node = group.balancer.pick(context, untried);
      if (node) {
        const now = Date.now();
        if (now - this.lastAllUnhealthyLog > 1000) {
          this.lastAllUnhealthyLog = now;
          this.logger.warn({ service: this.serviceId }, "no healthy upstream node, using all nodes");
        }
        return node;
      }
    }
    return undefined;
  }

  private readonly isHealthy = (node: UpstreamNode): boolean =>
    this.health.isHealthy(this.serviceId, this.names.get(node)!);

  connected(node: UpstreamNode, connectMs: number): void {
    this.health.reportConnect(this.serviceId, this.names.get(node)!, "ok");
    this.groupOf.get(node)?.connected?.(node, connectMs);
  }

  failed(node: UpstreamNode, timedOut: boolean): void {
    this.health.reportConnect(this.serviceId, this.names.get(node)!, timedOut ? "timeout" : "failure");
    this.groupOf.get(node)?.failed?.(node);
  }

  release(node: UpstreamNode): void {
    this.groupOf.get(node)?.release?.(node);
  }
}
