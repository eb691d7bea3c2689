/**
 * Least connections, weighted as nginx's `least_conn`: the node with the fewest active connections per
 * unit of weight; ties go round robin so equal nodes share new connections. A connection counts from
 * the pick (so a burst of connects spreads out) until `release`.
 */
import type { UpstreamNode } from "../../config/schema.ts";
import type { BalanceContext, Balancer } from "./types.ts";

export class LeastConnBalancer implements Balancer {
  private readonly active = new Map<UpstreamNode, number>();
  private next = 0;

  constructor(private readonly nodes: readonly UpstreamNode[]) {
    for (const node of nodes) this.active.set(node, 0);
  }

  pick(_context: BalanceContext, usable: (node: UpstreamNode) => boolean): UpstreamNode | undefined {
    const nodes = this.nodes;
    const n = nodes.length;
    let best: UpstreamNode | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    const start = this.next;
    for (let k = 0; k < n; k++) {
      const node = nodes[(start + k) % n]!;
      if (node.weight <= 0 || !usable(node)) continue;
      const score = this.active.get(node)! / node.weight;
      if (score < bestScore) {
        bestScore = score;
        best = node;
      }
    }
    if (best === undefined) return undefined;
    this.next = (start + 1) % n;
    this.active.set(best, this.active.get(best)! + 1);
    return best;
  }

  release(node: UpstreamNode): void {
    const count = this.active.get(node);
    if (count !== undefined && count > 0) this.active.set(node, count - 1);
  }
}
