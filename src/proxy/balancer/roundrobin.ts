/**
 * Smooth weighted round robin, as nginx's `ngx_http_upstream_get_peer`: each pick adds every node's
 * weight to its running score, takes the highest, and subtracts the total from it. Over one cycle each
 * node is chosen `weight` times, spread out rather than in bursts (5,1,1 gives a a b a c a a).
 */
import type { UpstreamNode } from "../../config/schema.ts";
import type { BalanceContext, Balancer } from "./types.ts";

export class RoundRobinBalancer implements Balancer {
  private readonly current: Float64Array;

  constructor(private readonly nodes: readonly UpstreamNode[]) {
    this.current = new Float64Array(nodes.length);
  }

  pick(_context: BalanceContext, usable: (node: UpstreamNode) => boolean): UpstreamNode | undefined {
    let best = -1;
    let total = 0;
    const nodes = this.nodes;
    const current = this.current;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (node.weight <= 0 || !usable(node)) continue;
      current[i]! += node.weight;
      total += node.weight;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    if (best === -1) return undefined;
    current[best]! -= total;
    return nodes[best];
  }
}
