/**
 * One balancer per file behind this interface. A balancer sees the nodes of one priority group of one
 * service for one config version; health, retries and priority groups are handled around it
 * (`upstream-pool.ts`), so a balancer only chooses among the nodes `usable` accepts.
 */
import type { UpstreamNode } from "../../config/schema.ts";

/** The connection facts a hash key can be built from (APISIX variable names). */
export interface BalanceContext {
  remote_addr: string;
  remote_port: number;
  server_addr: string;
  server_port: number;
  sni?: string;
  /** variables plugins set in preread (mqtt-proxy's `mqtt_client_id`) */
  vars?: ReadonlyMap<string, string>;
}

export interface Balancer {
  /**
   * Chooses a node with `usable(node)` true, or undefined when there is none. Every node returned is
   * later given back exactly once with `release`.
   */
  pick(context: BalanceContext, usable: (node: UpstreamNode) => boolean): UpstreamNode | undefined;
  /** a picked node accepted the connection after `connectMs` */
  connected?(node: UpstreamNode, connectMs: number): void;
  /** a picked node failed to connect (refused, timed out) */
  failed?(node: UpstreamNode): void;
  /** the connection or session that picked `node` is over (or its connect failed) */
  release?(node: UpstreamNode): void;
}

export interface BalancerOptions {
  /** chash: the variable (`remote_addr`, …) or, for `hash_on: vars_combinations`, a `$a$b` template */
  key: string;
  hashOn: "vars" | "vars_combinations";
}
