/** Builds the balancer an upstream's `type` names. */
import type { BalancerType, UpstreamNode } from "../../config/schema.ts";
import { ConsistentHashBalancer } from "./chash.ts";
import { EwmaBalancer } from "./ewma.ts";
import { LeastConnBalancer } from "./least-conn.ts";
import { RoundRobinBalancer } from "./roundrobin.ts";
import type { Balancer, BalancerOptions } from "./types.ts";

export type { BalanceContext, Balancer, BalancerOptions } from "./types.ts";

export function createBalancer(type: BalancerType, nodes: readonly UpstreamNode[], options: BalancerOptions): Balancer {
  switch (type) {
    case "chash":
      return new ConsistentHashBalancer(nodes, options);
    case "least_conn":
      return new LeastConnBalancer(nodes);
    case "ewma":
      return new EwmaBalancer(nodes);
    default:
      return new RoundRobinBalancer(nodes);
  }
}
