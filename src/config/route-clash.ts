/**
 * Two routes clash when a gateway could not tell them apart: same scheme, and equal match fields
 * (`server_addr`, `server_port`, `remote_addr`, `sni`) once normalised. Addresses are compared as CIDRs
 * (`127.0.0.1` is `127.0.0.1/32`, `::ffff:10.0.0.1` is `10.0.0.1`, `10.1.2.3/8` is `10.0.0.0/8`) and
 * host names case-insensitively. TCP and UDP routes may share every match field.
 */
import { normaliseCidr } from "../net/addresses.ts";

export interface MatchableRoute {
  id: string;
  name: string;
  serviceId: string;
  serviceName: string;
  scheme: "tcp" | "udp";
  server_addr?: string;
  server_port: number;
  remote_addr?: string;
  sni?: string;
}

export function matchKey(route: MatchableRoute): string {
  return [
    route.scheme,
    route.server_addr ? normaliseCidr(route.server_addr) : "*",
    route.server_port,
    route.remote_addr ? normaliseCidr(route.remote_addr) : "*",
    route.sni ? route.sni.toLowerCase() : "*",
  ].join("|");
}

/** the first pair of routes that clash, or undefined */
export function findClash(routes: readonly MatchableRoute[]): [MatchableRoute, MatchableRoute] | undefined {
  const seen = new Map<string, MatchableRoute>();
  for (const route of routes) {
    const key = matchKey(route);
    const other = seen.get(key);
    if (other) return [other, route];
    seen.set(key, route);
  }
  return undefined;
}

export function describeRoute(r: MatchableRoute): string {
  return `route "${r.name}" (${r.id}) of service "${r.serviceName}"`;
}
