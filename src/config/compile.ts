/**
 * Published rows → the compiled config of a gateway group (src/config/types.ts). Pure: the store calls
 * it inside the transaction that changed the group and stores the result with the new version number.
 */
import { normaliseCidr } from "../net/addresses.ts";
import { parsePortRanges } from "./port-ranges.ts";
import { type PluginMap, type StreamRouteFields, transportOf, type Upstream, type UpstreamNode } from "./schema.ts";
import type {
  CompiledSsl,
  CompiledUpstream,
  GatewayConfig,
  PluginMetadata,
  PublishedRoute,
  PublishedService,
} from "./types.ts";

export interface PublishedRow {
  serviceId: string;
  version: string;
  snapshot: {
    service: { id: string; name: string };
    upstream: Upstream;
    plugins: PluginMap;
    stream_routes: Array<StreamRouteFields & { id: string }>;
  };
  runtimeNodes: UpstreamNode[] | null;
}

export interface CompiledGroup {
  id: string;
  name: string;
  streamPortRanges: string[];
  realIpFrom: string[];
  globalRules?: PluginMap;
  pluginMetadata?: PluginMetadata;
}

/** `ssls`: the group's certificates, oldest first, as gateways receive them */
export function compileConfig(
  group: CompiledGroup,
  published: readonly PublishedRow[],
  version: number,
  ssls: CompiledSsl[] = [],
): GatewayConfig {
  const services: PublishedService[] = [...published]
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : 0))
    .map((row) => ({
      id: row.serviceId,
      name: row.snapshot.service.name,
      version: row.version,
      upstream: compileUpstream(row.snapshot.upstream, row.runtimeNodes ?? row.snapshot.upstream.nodes),
      plugins: row.snapshot.plugins,
      stream_routes: row.snapshot.stream_routes.map(compileRoute),
    }));
  const config: GatewayConfig = {
    version,
    gateway_group: { id: group.id, name: group.name },
    stream_port_ranges: parsePortRanges(group.streamPortRanges),
    services,
    ssls,
    real_ip_from: group.realIpFrom.map(normaliseCidr),
  };
  // absent when empty, so configs of groups that use neither stay as they were
  if (group.globalRules && Object.keys(group.globalRules).length > 0) config.global_rules = group.globalRules;
  if (group.pluginMetadata && Object.keys(group.pluginMetadata).length > 0)
    config.plugin_metadata = group.pluginMetadata;
  return config;
}

/** a validated upstream as gateways run it: `scheme: "tls"` becomes TCP with `tls` (verify decided) */
export function compileUpstream(upstream: Upstream, nodes: UpstreamNode[] = upstream.nodes): CompiledUpstream {
  const { tls, scheme, ...rest } = upstream;
  const out: CompiledUpstream = { ...rest, scheme: transportOf(scheme), nodes };
  if (scheme === "tls") {
    const given = tls ?? {};
    out.tls = { ...given, verify: given.verify ?? given.ca !== undefined };
  }
  return out;
}

/** a route's fields as gateways match them; `tls` is `passthrough` when `sni` is set and nothing was said */
export function compileRoute(route: StreamRouteFields & { id: string }): PublishedRoute {
  const out: PublishedRoute = { id: route.id, name: route.name, server_port: route.server_port, plugins: {} };
  if (route.server_addr !== undefined) out.server_addr = route.server_addr;
  if (route.remote_addr !== undefined) out.remote_addr = route.remote_addr;
  if (route.sni !== undefined) out.sni = route.sni;
  const tls = route.tls ?? (route.sni !== undefined ? "passthrough" : undefined);
  if (tls !== undefined) out.tls = tls;
  if (route.proxy_protocol) out.proxy_protocol = true;
  out.plugins = route.plugins ?? {};
  return out;
}
