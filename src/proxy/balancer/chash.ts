/**
 * Consistent hashing on a ring of virtual points (as nginx's `hash ... consistent`): each node owns
 * points in proportion to its weight, a key goes to the first point at or after its hash. Adding or
 * removing a node moves only the keys of the points it gains or loses. When the owner of a key is not
 * usable (unhealthy, or already tried), the walk goes on along the ring, so the fallback is stable too.
 */
import type { UpstreamNode } from "../../config/schema.ts";
import type { BalanceContext, Balancer, BalancerOptions } from "./types.ts";

/** points for a node of average weight; the ring stays at most ~10k points whatever the weights */
const POINTS_PER_WEIGHT = 160;
const MAX_RING_POINTS = 10_000;

const CONTEXT_VARS = new Set(["remote_addr", "remote_port", "server_addr", "server_port", "sni"]);

/** FNV-1a, 32 bit, over the UTF-16 code units: no allocation, good spread for addresses. */
export function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix) so that near-identical keys (10.0.0.1, 10.0.0.2) land far apart
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function contextValue(context: BalanceContext, name: string): string {
  switch (name) {
    case "remote_addr":
      return context.remote_addr;
    case "remote_port":
      return String(context.remote_port);
    case "server_addr":
      return context.server_addr;
    case "server_port":
      return String(context.server_port);
    case "sni":
      return context.sni ?? "";
    default:
      return context.vars?.get(name) ?? "";
  }
}

/** Builds the key function once per config: a variable name, or a `$a$b` combination. */
export function keyReader(options: BalancerOptions): (context: BalanceContext) => string {
  const key = options.key.replace(/^\$/, "");
  if (options.hashOn === "vars" && CONTEXT_VARS.has(key)) return (c) => contextValue(c, key);
  if (options.hashOn === "vars_combinations") {
    const parts = options.key.split(/(\$[a-z_]+)/).filter((p) => p !== "");
    return (c) => {
      let s = "";
      for (const p of parts) s += p.startsWith("$") ? contextValue(c, p.slice(1)) : p;
      return s;
    };
  }
  // A variable a plugin sets (mqtt-proxy's `mqtt_client_id`) when it has a value; unset, or an HTTP-only
  // one such as `uri`, has none on a stream: hash on the client, as APISIX does.
  return (c) => {
    const value = c.vars?.get(key);
    return value === undefined || value === "" ? c.remote_addr : value;
  };
}

export class ConsistentHashBalancer implements Balancer {
  private readonly ringHashes: Uint32Array;
  private readonly ringNodes: UpstreamNode[];
  private readonly readKey: (context: BalanceContext) => string;

  constructor(nodes: readonly UpstreamNode[], options: BalancerOptions) {
    this.readKey = keyReader(options);
    const live = nodes.filter((n) => n.weight > 0);
    const totalWeight = live.reduce((sum, n) => sum + n.weight, 0);
    const scale = totalWeight === 0 ? 0 : Math.min(POINTS_PER_WEIGHT, MAX_RING_POINTS / totalWeight);
    const points: { hash: number; node: UpstreamNode }[] = [];
    for (const node of live) {
      const count = Math.max(1, Math.round(node.weight * scale));
      const id = `${node.host}:${node.port}`;
      for (let i = 0; i < count; i++) points.push({ hash: hashKey(`${id}#${i}`), node });
    }
    points.sort((a, b) => a.hash - b.hash || (a.node.host < b.node.host ? -1 : 1));
    this.ringHashes = Uint32Array.from(points, (p) => p.hash);
    this.ringNodes = points.map((p) => p.node);
  }

  pick(context: BalanceContext, usable: (node: UpstreamNode) => boolean): UpstreamNode | undefined {
    const n = this.ringHashes.length;
    if (n === 0) return undefined;
    const h = hashKey(this.readKey(context));
    // first point with hash >= h
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ringHashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    let last: UpstreamNode | undefined;
    for (let k = 0; k < n; k++) {
      const node = this.ringNodes[(lo + k) % n]!;
      if (node === last) continue;
      last = node;
      if (usable(node)) return node;
    }
    return undefined;
  }
}
