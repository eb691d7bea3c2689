/**
 * The compiled configuration of one gateway group: the whole contract between the control plane and
 * the data plane. The control plane builds it from published rows (src/config/compile.ts), serves it
 * at `GET /api/gateway_groups/:gid/config` and streams it to gateways; a gateway applies one as a unit.
 *
 * It is plain JSON (no Dates, no Maps) so it can be cached on disk and sent over HTTP unchanged, and
 * fully normalised (defaults applied, node maps turned into arrays) so the data plane needs no schema
 * knowledge beyond these types.
 */
import type { PluginMap, Upstream, UpstreamNode, UpstreamTls } from "./schema.ts";

export interface GatewayConfig {
  /** grows by exactly one on every change that affects the group; 0 = nothing published yet */
  version: number;
  gateway_group: { id: string; name: string };
  /** inclusive port ranges the group's gateways may open, e.g. `[{ from: 9000, to: 9999 }]` */
  stream_port_ranges: PortRange[];
  /** one entry per published stream service, ordered by service id */
  services: PublishedService[];
  /**
   * the group's certificates, oldest first; a terminating route serves the one covering its `sni`
   * (exact over wildcard, `chooseForServerName`), a terminating route without `sni` the first one
   */
  ssls: CompiledSsl[];
  /** normalised CIDRs (`10.0.0.0/8`) whose PROXY protocol headers are trusted; empty = none */
  real_ip_from: string[];
  /**
   * plugins run on every stream route of the group (ADC's and APISIX's `global_rules`); a service's or
   * route's own config of the same plugin wins. Absent in configs compiled before it existed.
   */
  global_rules?: PluginMap;
  /** per-plugin metadata (ADC's `plugin_metadata`, e.g. syslog's `log_format`), passed through as written */
  plugin_metadata?: PluginMetadata;
}

/** plugin name → that plugin's metadata, as written */
export type PluginMetadata = Record<string, Record<string, unknown>>;

/** a certificate of the group, keys in clear: the config reaches only gateways holding the group's token */
export interface CompiledSsl {
  id: string;
  /** lower case, exact or `*.` wildcard */
  snis: string[];
  /** PEM chain, leaf first */
  cert: string;
  /** PEM private key of `cert` */
  key: string;
  /** more chains beside `cert` (an RSA one beside an ECDSA one), `keys[i]` for `certs[i]`; may be empty */
  certs: string[];
  keys: string[];
  /** mTLS: clients must present a certificate that verifies against `ca` within `depth` intermediates */
  client?: { ca: string; depth: number };
  /** the versions a handshake may use */
  ssl_protocols: TlsProtocol[];
  /** notAfter of `cert`, unix seconds (for the expiry metric) */
  validity_end: number;
}

export type TlsProtocol = "TLSv1.2" | "TLSv1.3";

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

/**
 * `scheme` is the transport: an upstream written with `scheme: "tls"` compiles to `tcp` with `tls` set,
 * so everything that only cares about TCP versus UDP keeps reading `scheme`.
 */
export type CompiledUpstream = Omit<Upstream, "tls" | "scheme"> & {
  scheme: "tcp" | "udp";
  nodes: UpstreamNode[];
  /** connect to the nodes with TLS */
  tls?: CompiledUpstreamTls;
};

/** TLS to the nodes, `verify` decided (on by default when `ca` is given) */
export type CompiledUpstreamTls = Omit<UpstreamTls, "verify"> & { verify: boolean };

export interface PublishedRoute {
  id: string;
  name: string;
  server_addr?: string;
  server_port: number;
  remote_addr?: string;
  sni?: string;
  /** absent: bytes pass as they come (a route without `sni` that does not terminate) */
  tls?: "passthrough" | "terminate";
  /** a PROXY protocol header comes first (the same for every route on the port); absent = no header */
  proxy_protocol?: true;
  /** route plugins only; the data plane merges service plugins under them (route wins by name) */
  plugins: PluginMap;
}

/** An empty config for a group with nothing published. */
export function emptyConfig(group: { id: string; name: string }, ranges: PortRange[] = []): GatewayConfig {
  return { version: 0, gateway_group: group, stream_port_ranges: ranges, services: [], ssls: [], real_ip_from: [] };
}
