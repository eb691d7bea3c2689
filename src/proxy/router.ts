/**
 * Route matching, as DESIGN.md §4: among the routes of a listening port that match, the most specific
 * wins, compared field by field in this order: a `server_addr` beats none; a longer `remote_addr` prefix
 * beats a shorter one (a plain address is /32 or /128, no `remote_addr` is below /0); an exact `sni`
 * beats a `*.` wildcard (longer suffix first), which beats none. The order is computed once per port at
 * apply; a connection walks the sorted list and takes the first match. Routes whose `remote_addr` is a
 * single address (the common "this client goes there" route, possibly thousands on one port) are also
 * indexed by that address, so they cost a map lookup per connection instead of a walk.
 */
import ipaddr from "ipaddr.js";
import { parseCidr } from "../net/addresses.ts";
import type { RouteMetrics } from "../observability/metrics.ts";
import type { PluginInstance } from "./plugins/types.ts";
import type { UpstreamPool } from "./upstream-pool.ts";

export interface PluginSlot {
  name: string;
  instance: PluginInstance;
}

export interface RouteEntry {
  readonly id: string;
  readonly name: string;
  /** `{ id, name }`, the `route` every session of this route shows its plugins (one object, not one a session) */
  readonly ref: { readonly id: string; readonly name: string };
  readonly service: { readonly id: string; readonly name: string };
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly pool: UpstreamPool;
  /** by priority, highest first */
  readonly plugins: readonly PluginSlot[];
  /** counts its sessions when a plugin (prometheus) exports them */
  readonly metrics: RouteMetrics;
  readonly match: RouteMatch;
  /** end TLS here with the group's certificate for the client's name and forward plaintext */
  readonly terminate?: boolean;
  /** connections carry a PROXY protocol header first (every route on the port agrees) */
  readonly proxyProtocol?: boolean;
}

export interface RouteMatch {
  /** normalised */
  readonly serverAddr?: string;
  readonly remote?: { readonly range: ipaddr.IPv4 | ipaddr.IPv6; readonly bits: number };
  /** lower case; for a wildcard the suffix including the dot (`.example.com`) */
  readonly sni?: { readonly exact: boolean; readonly name: string };
}

/** Canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4, IPv6 compressed); other text unchanged. */
export function canonicalAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  return ipaddr.process(address).toString();
}

export function parseRouteMatch(fields: { server_addr?: string; remote_addr?: string; sni?: string }): RouteMatch {
  let remote: RouteMatch["remote"];
  if (fields.remote_addr !== undefined) {
    remote = parseCidr(fields.remote_addr);
  }
  let sni: RouteMatch["sni"];
  if (fields.sni !== undefined) {
    const name = fields.sni.toLowerCase();
    sni = name.startsWith("*.") ? { exact: false, name: name.slice(1) } : { exact: true, name };
  }
  return {
    serverAddr: fields.server_addr === undefined ? undefined : canonicalAddress(fields.server_addr),
    remote,
    sni,
  };
}

function sniRank(m: RouteMatch): number {
  if (!m.sni) return 0;
  return m.sni.exact ? 2 : 1;
}

/** Negative when `a` is more specific than `b`. */
export function compareSpecificity(a: RouteMatch, b: RouteMatch): number {
  const server = (b.serverAddr ? 1 : 0) - (a.serverAddr ? 1 : 0);
  if (server !== 0) return server;
  const remote = (b.remote ? b.remote.bits : -1) - (a.remote ? a.remote.bits : -1);
  if (remote !== 0) return remote;
  const sni = sniRank(b) - sniRank(a);
  if (sni !== 0) return sni;
  return (b.sni?.name.length ?? 0) - (a.sni?.name.length ?? 0);
}

function sniMatches(want: NonNullable<RouteMatch["sni"]>, sni: string): boolean {
  if (want.exact) return sni === want.name;
  return sni.length > want.name.length && sni.endsWith(want.name);
}

function parseClient(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  return ipaddr.isValid(address) ? ipaddr.process(address) : undefined;
}

function addressMatches(m: RouteMatch, client: ipaddr.IPv4 | ipaddr.IPv6 | undefined, server: string): boolean {
  if (m.serverAddr !== undefined && m.serverAddr !== server) return false;
  if (m.remote !== undefined) {
    if (client === undefined || client.kind() !== m.remote.range.kind()) return false;
    if (!client.match(m.remote.range, m.remote.bits)) return false;
  }
  return true;
}

/** The routes of one (protocol, port), most specific first. */
export class PortRoutes {
  readonly routes: readonly RouteEntry[];
  /** some route here has `sni` or terminates TLS: connections may have to be peeked */
  readonly hasSniRoutes: boolean;
  /** connections on this port start with a PROXY protocol header */
  readonly proxyProtocol: boolean;
  /** some route has `remote_addr`: the client address must be parsed */
  readonly needsClientAddress: boolean;
  /** some route has `server_addr`: the local address must be canonical */
  readonly serverAddrRoutes: boolean;
  /** routes whose `remote_addr` is one address, by that address (canonical text), each list in `routes` order */
  readonly byClient: ReadonlyMap<string, readonly RouteEntry[]>;
  /** the other routes, in `routes` order, and the position of each in `routes` (lower is more specific) */
  readonly unindexed: readonly RouteEntry[];
  readonly unindexedRank: readonly number[];
  /** position of each route in `routes` */
  readonly rank: ReadonlyMap<RouteEntry, number>;

  constructor(routes: readonly RouteEntry[]) {
    this.routes = [...routes].sort((a, b) => compareSpecificity(a.match, b.match));
    this.hasSniRoutes = routes.some((r) => r.match.sni !== undefined || r.terminate === true);
    this.proxyProtocol = routes.some((r) => r.proxyProtocol === true);
    this.needsClientAddress = routes.some((r) => r.match.remote !== undefined);
    this.serverAddrRoutes = routes.some((r) => r.match.serverAddr !== undefined);
    const byClient = new Map<string, RouteEntry[]>();
    const unindexed: RouteEntry[] = [];
    const unindexedRank: number[] = [];
    const rank = new Map<RouteEntry, number>();
    this.routes.forEach((r, i) => {
      rank.set(r, i);
      const remote = r.match.remote;
      if (remote && remote.bits === (remote.range.kind() === "ipv4" ? 32 : 128)) {
        const key = remote.range.toString();
        const list = byClient.get(key);
        if (list) list.push(r);
        else byClient.set(key, [r]);
      } else {
        unindexed.push(r);
        unindexedRank.push(i);
      }
    });
    this.byClient = byClient;
    this.unindexed = unindexed;
    this.unindexedRank = unindexedRank;
    this.rank = rank;
  }

  /** whether a connection from `client` to `server` could match a route with `sni` (then peek) */
  wantsSni(client: string, server: string): boolean {
    if (!this.hasSniRoutes) return false;
    const parsed = this.needsClientAddress ? parseClient(client) : undefined;
    const serverAddr = this.serverAddrRoutes ? canonicalAddress(server) : server;
    for (const r of this.routes) {
      if ((r.match.sni || r.terminate) && addressMatches(r.match, parsed, serverAddr)) return true;
    }
    return false;
  }

  match(client: string, server: string, sni: string | undefined): RouteEntry | undefined {
    return matchRoute(this, client, server, sni);
  }
}

/**
 * The route a connection belongs to: `client` is the normalised peer address, `server` the local
 * address it connected to, `sni` the server name from its ClientHello (lower case) if any.
 */
export function matchRoute(
  table: PortRoutes,
  client: string,
  server: string,
  sni: string | undefined,
): RouteEntry | undefined {
  const parsed = table.needsClientAddress ? parseClient(client) : undefined;
  const serverAddr = table.serverAddrRoutes ? canonicalAddress(server) : server;
  const exact = table.byClient.size > 0 && parsed ? table.byClient.get(parsed.toString()) : undefined;
  const fromIndex = exact ? firstMatch(exact, parsed, serverAddr, sni) : undefined;
  // an unindexed route can only win if it is more specific than the indexed match
  const limit = fromIndex ? table.rank.get(fromIndex)! : Number.POSITIVE_INFINITY;
  const { unindexed, unindexedRank } = table;
  for (let i = 0; i < unindexed.length && unindexedRank[i]! < limit; i++) {
    if (routeMatches(unindexed[i]!, parsed, serverAddr, sni)) return unindexed[i];
  }
  return fromIndex;
}

function routeMatches(
  r: RouteEntry,
  client: ipaddr.IPv4 | ipaddr.IPv6 | undefined,
  server: string,
  sni: string | undefined,
): boolean {
  if (!addressMatches(r.match, client, server)) return false;
  return r.match.sni === undefined || (sni !== undefined && sniMatches(r.match.sni, sni));
}

function firstMatch(
  routes: readonly RouteEntry[],
  client: ipaddr.IPv4 | ipaddr.IPv6 | undefined,
  server: string,
  sni: string | undefined,
): RouteEntry | undefined {
  for (const r of routes) if (routeMatches(r, client, server, sni)) return r;
  return undefined;
}
