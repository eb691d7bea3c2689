/**
 * Published rows → the compiled config of a gateway group (src/config/types.ts). Pure: the store calls
 * it inside the transaction that changed the group and stores the result with the new version number.
 */
import { parsePortRanges } from "./port-ranges.ts";
import type { PluginMap, StreamRouteFields, Upstream, UpstreamNode } from "./schema.ts";
import type { GatewayConfig, PublishedRoute, PublishedService } from "./types.ts";

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

export function compileConfig(
  group: { id: string; name: string; streamPortRanges: string[] },
  published: readonly PublishedRow[],
  version: number,
): GatewayConfig {
  const services: PublishedService[] = [...published]
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : 0))
    .map((row) => ({
      id: row.serviceId,
      name: row.snapshot.service.name,
      version: row.version,
      upstream: { ...row.snapshot.upstream, nodes: row.runtimeNodes ?? row.snapshot.upstream.nodes },
      plugins: row.snapshot.plugins,
      stream_routes: row.snapshot.stream_routes.map(compileRoute),
    }));
  return {
    version,
    gateway_group: { id: group.id, name: group.name },
    stream_port_ranges: parsePortRanges(group.streamPortRanges),
    services,
  };
}

function compileRoute(route: StreamRouteFields & { id: string }): PublishedRoute {
  const out: PublishedRoute = { id: route.id, name: route.name, server_port: route.server_port, plugins: {} };
  if (route.server_addr !== undefined) out.server_addr = route.server_addr;
  if (route.remote_addr !== undefined) out.remote_addr = route.remote_addr;
  if (route.sni !== undefined) out.sni = route.sni;
  out.plugins = route.plugins ?? {};
  return out;
}
