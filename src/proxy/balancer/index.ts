/**
 * The balancers by upstream `type`. Adding one: its file in this folder, its name in `balancerType`
 * (config/schema.ts) and one line here; the compiler refuses a type without an entry.
 */
import type { BalancerType, UpstreamNode } from "../../config/schema.ts";
import { ConsistentHashBalancer } from "./chash.ts";
import { EwmaBalancer } from "./ewma.ts";
import { LeastConnBalancer } from "./least-conn.ts";
import { RoundRobinBalancer } from "./roundrobin.ts";
import type { Balancer, BalancerOptions } from "./types.ts";

export type { BalanceContext, Balancer, BalancerOptions } from "./types.ts";

type BalancerFactory = (nodes: readonly UpstreamNode[], options: BalancerOptions) => Balancer;

const balancers: { readonly [type in BalancerType]: BalancerFactory } = {
  roundrobin: (nodes) => new RoundRobinBalancer(nodes),
  chash: (nodes, options) => new ConsistentHashBalancer(nodes, options),
  least_conn: (nodes) => new LeastConnBalancer(nodes),
  ewma: (nodes) => new EwmaBalancer(nodes),
};

export function createBalancer(type: BalancerType, nodes: readonly UpstreamNode[], options: BalancerOptions): Balancer {
  const create = balancers[type] as BalancerFactory | undefined;
  // The schema admits only registered types; a config that bypassed it must not become round robin.
  if (!create) throw new Error(`unknown balancer type '${type}'`);
  return create(nodes, options);
}
