/**
 * EWMA, as APISIX's `ewma` balancer but on connect time (the only latency an L4 proxy sees): each node
 * keeps an exponentially weighted moving average of its connect times, decaying with a 10 s time
 * constant; the pick minimises ewma × (active + 1) / weight, so a slow or busy node gets fewer new
 * connections. A failed connect counts as a slow one. Nodes never measured score 0 and are tried first.
 */
import type { UpstreamNode } from "../../config/schema.ts";
import type { BalanceContext, Balancer } from "./types.ts";

const DECAY_MS = 10_000;
const FAILURE_PENALTY_MS = 1_000;

interface NodeStats {
  ewma: number;
  at: number;
  active: number;
}

export class EwmaBalancer implements Balancer {
  private readonly stats = new Map<UpstreamNode, NodeStats>();
  private next = 0;

  constructor(
    private readonly nodes: readonly UpstreamNode[],
    private readonly now: () => number = Date.now,
  ) {
    for (const node of nodes) this.stats.set(node, { ewma: 0, at: 0, active: 0 });
  }

  pick(_context: BalanceContext, usable: (node: UpstreamNode) => boolean): UpstreamNode | undefined {
    const nodes = this.nodes;
    const n = nodes.length;
    const start = this.next;
    let best: UpstreamNode | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let k = 0; k < n; k++) {
      const node = nodes[(start + k) % n]!;
      if (node.weight <= 0 || !usable(node)) continue;
      const s = this.stats.get(node)!;
      const score = (s.ewma * (s.active + 1)) / node.weight;
      if (score < bestScore) {
        bestScore = score;
        best = node;
      }
    }
    if (best === undefined) return undefined;
    this.next = (start + 1) % n;
    this.stats.get(best)!.active++;
    return best;
  }

  connected(node: UpstreamNode, connectMs: number): void {
    this.observe(node, connectMs);
  }

  failed(node: UpstreamNode): void {
    this.observe(node, FAILURE_PENALTY_MS);
  }

  release(node: UpstreamNode): void {
    const s = this.stats.get(node);
    if (s && s.active > 0) s.active--;
  }

  private observe(node: UpstreamNode, ms: number): void {
    const s = this.stats.get(node);
    if (!s) return;
    const t = this.now();
    if (s.at === 0) s.ewma = ms;
    else {
      const w = Math.exp(-Math.max(0, t - s.at) / DECAY_MS);
      s.ewma = s.ewma * w + ms * (1 - w);
    }
    s.at = t;
  }
}
