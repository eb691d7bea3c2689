/**
 * Two routes clash when a gateway could not tell them apart: same scheme, and equal match fields
 * (`server_addr`, `server_port`, `remote_addr`, `sni`) once normalised. Addresses are compared as CIDRs
 * (`127.0.0.1` is `127.0.0.1/32`, `::ffff:10.0.0.1` is `10.0.0.1`, `10.1.2.3/8` is `10.0.0.0/8`) and
 * host names case-insensitively. TCP and UDP routes may share every match field.
 *
 * Routes on one port also share what comes before any match: whether a PROXY protocol header is read
 * first. So every route of one transport on one port must agree on `proxy_protocol` (absent = false).
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
  proxy_protocol?: boolean;
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

/** the first two routes on one port (same transport) that disagree on `proxy_protocol`, or undefined */
export function findProxyProtocolDisagreement(
  routes: readonly MatchableRoute[],
): [MatchableRoute, MatchableRoute] | undefined {
  const firstOnPort = new Map<string, MatchableRoute>();
  for (const route of routes) {
    const key = `${route.scheme}|${route.server_port}`;
    const first = firstOnPort.get(key);
    if (!first) firstOnPort.set(key, route);
    else if ((first.proxy_protocol ?? false) !== (route.proxy_protocol ?? false)) return [first, route];
  }
  return undefined;
}

/** the message for a disagreement, naming both routes (the API's 409 and the file's problem) */
export function proxyProtocolDisagreement([a, b]: [MatchableRoute, MatchableRoute], describe = describeRoute): string {
  const on = (r: MatchableRoute) => (r.proxy_protocol ? "proxy_protocol: true" : "no proxy_protocol");
  return `${describe(b)} has ${on(b)} but ${describe(a)} on the same ${a.scheme} port ${a.server_port} has ${on(a)}: every route on a port must agree`;
}

export function describeRoute(r: MatchableRoute): string {
  return `route "${r.name}" (${r.id}) of service "${r.serviceName}"`;
}
