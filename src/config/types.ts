/**
 * The compiled configuration of one gateway group: the whole contract between the control plane and
 * the data plane. The control plane builds it from published rows (src/config/compile.ts), serves it
 * at `GET /api/gateway_groups/:gid/config` and streams it to gateways; a gateway applies one as a unit.
 *
 * It is plain JSON (no Dates, no Maps) so it can be cached on disk and sent over HTTP unchanged, and
 * fully normalised (defaults applied, node maps turned into arrays) so the data plane needs no schema
 * knowledge beyond these types.
 */
import type { PluginMap, Upstream, UpstreamNode } from "./schema.ts";

export interface GatewayConfig {
  /** grows by exactly one on every change that affects the group; 0 = nothing published yet */
  version: number;
  gateway_group: { id: string; name: string };
  /** inclusive port ranges the group's gateways may open, e.g. `[{ from: 9000, to: 9999 }]` */
  stream_port_ranges: PortRange[];
  /** one entry per published stream service, ordered by service id */
  services: PublishedService[];
}

export interface PortRange {
  from: number;
  to: number;
}

export interface PublishedService {
  id: string;
  name: string;
  /** the publish version label this group runs, e.g. `1.0.2` */
  version: string;
  /** normalised upstream; `nodes` are the group's runtime nodes when set, else the published ones */
  upstream: CompiledUpstream;
  plugins: PluginMap;
  stream_routes: PublishedRoute[];
}

export type CompiledUpstream = Upstream & { nodes: UpstreamNode[] };

export interface PublishedRoute {
  id: string;
  name: string;
  server_addr?: string;
  server_port: number;
  remote_addr?: string;
  sni?: string;
  /** route plugins only; the data plane merges service plugins under them (route wins by name) */
  plugins: PluginMap;
}

/** An empty config for a group with nothing published. */
export function emptyConfig(group: { id: string; name: string }, ranges: PortRange[] = []): GatewayConfig {
  return { version: 0, gateway_group: group, stream_port_ranges: ranges, services: [] };
}
