/**
 * Sluice's stream metrics as APISIX 3.x's Prometheus exporter names and labels them, for
 * `--metrics-compat apisix`: an APISIX Grafana dashboard or alert rule reads Sluice's `/metrics`
 * unchanged. The APISIX side follows apisix/plugins/prometheus/exporter.lua (apache/apisix); the test
 * data it is checked against is test/compat/fixtures/apisix-stream-metrics.ts.
 *
 * Names here have no prefix: the configured one (`apisix_` in APISIX mode) goes in front of both.
 */

/** One Sluice metric family and what it is called in APISIX mode. */
export interface ApisixMetricName {
  /** the Sluice family, as registered (counters carry `_total`) */
  sluice: string;
  /** the APISIX family; `undefined` when APISIX has none, and the Sluice name is kept */
  apisix: string | undefined;
  /** APISIX's `HELP` text, where APISIX has the family */
  help?: string;
  /**
   * Sluice label → APISIX label, in APISIX's label order; a `null` Sluice label is one only APISIX has,
   * filled in APISIX mode (`hostname` of `node_info`)
   */
  labels: ReadonlyArray<readonly [sluice: string | null, apisix: string]>;
}

export const apisixMetricNames: readonly ApisixMetricName[] = [
  {
    sluice: "stream_connection_total",
    apisix: "stream_connection_total",
    help: "Total number of connections handled per stream route in APISIX",
    labels: [["route", "route"]],
  },
  {
    sluice: "stream_active_connections",
    apisix: "stream_active_connections",
    help: "Number of stream sessions currently being proxied per listening address",
    labels: [["listen_addr", "listen_addr"]],
  },
  {
    // nginx-lua-prometheus adds no `_total`, so APISIX's counter is `stream_status`
    sluice: "stream_status_total",
    apisix: "stream_status",
    help: "Stream sessions per termination status in APISIX",
    labels: [
      ["code", "code"],
      ["listen_addr", "listen_addr"],
      ["node", "node"],
    ],
  },
  {
    sluice: "stream_bandwidth_total",
    apisix: "stream_bandwidth",
    help: "Total bandwidth in bytes proxied by the stream subsystem in APISIX",
    labels: [
      ["listen_addr", "listen_addr"],
      ["type", "type"],
      ["side", "side"],
    ],
  },
  {
    // APISIX names the holder of the upstream and splits the node: {name, ip, port}
    sluice: "upstream_status",
    apisix: "upstream_status",
    labels: [
      ["service", "name"],
      ["node", "ip"],
      ["node", "port"],
    ],
  },
  {
    sluice: "build_info",
    apisix: "node_info",
    labels: [
      [null, "hostname"],
      ["version", "version"],
    ],
  },
  { sluice: "stream_connect_duration_seconds", apisix: undefined, labels: [] },
  { sluice: "stream_unmatched_total", apisix: undefined, labels: [["listen_addr", "listen_addr"]] },
  { sluice: "syslog_dropped_total", apisix: undefined, labels: [["server", "server"]] },
  { sluice: "config_version", apisix: undefined, labels: [["gateway_group", "gateway_group"]] },
  {
    sluice: "connections_refused_total",
    apisix: undefined,
    labels: [
      ["protocol", "protocol"],
      ["reason", "reason"],
    ],
  },
  { sluice: "udp_sessions_evicted_total", apisix: undefined, labels: [["reason", "reason"]] },
  { sluice: "max_connections", apisix: undefined, labels: [] },
  { sluice: "tls_handshake_failures_total", apisix: undefined, labels: [["cause", "cause"]] },
  { sluice: "proxy_protocol_refused_total", apisix: undefined, labels: [["reason", "reason"]] },
  { sluice: "mqtt_connect_refused_total", apisix: undefined, labels: [["reason", "reason"]] },
  { sluice: "ssl_certificate_expiry_seconds", apisix: undefined, labels: [["sni", "sni"]] },
];

/** The codes `apisix_stream_status` carries (exporter.lua `STREAM_NGINX_CODES`). */
export const apisixStreamCodes: ReadonlySet<string> = new Set(["200", "400", "403", "500", "502", "503"]);

/**
 * A plugin's reject code as APISIX's metric shows it (exporter.lua `stream_reject_code`): kept when it is
 * one of nginx's stream codes, else any 4xx is 400 and anything else 500, so an operator-chosen
 * `rejected_code` cannot add label values.
 */
export function apisixRejectCode(code: number): string {
  if (!Number.isInteger(code) || code < 400) return "500";
  const text = String(code);
  if (apisixStreamCodes.has(text)) return text;
  return code < 500 ? "400" : "500";
}

/**
 * How a session that was proxied ended, as APISIX's code (exporter.lua `STREAM_REASON_TO_CODE`): a close
 * from either side is 200, a client-side reset or error 400, an upstream-side one or an idle timeout 502.
 * A session the gateway ended itself (drained after a config change, a UDP session evicted for a newer
 * one) is 200, as APISIX's `shutdown`.
 */
export const apisixCodeByCloseReason: Readonly<Record<string, string>> = {
  client_closed: "200",
  upstream_closed: "200",
  closed: "200",
  drained: "200",
  evicted: "200",
  shutdown: "200",
  responses_received: "200",
  client_reset: "400",
  client_error: "400",
  upstream_reset: "502",
  upstream_error: "502",
  idle_timeout: "502",
  fin_timeout: "502",
  connect_failed: "502",
  no_upstream: "502",
  error: "502",
};

/**
 * The `code` label in APISIX mode: a session Sluice gave a non-200 code (rejected by a plugin, no node
 * reachable) keeps it, folded into APISIX's set; a 200 session takes the code of its close reason. A UDP
 * session has no close: it ends when it has been idle, which nginx finalizes as 200 (a "udp timed out"
 * session that got its responses), so a UDP idle timeout is 200, not a failure.
 */
export function apisixStatusCode(
  code: number,
  closeReason: string | undefined,
  protocol: "tcp" | "udp" = "tcp",
): string {
  if (code !== 200) return apisixRejectCode(code);
  if (protocol === "udp" && closeReason === "idle_timeout") return "200";
  return (closeReason && apisixCodeByCloseReason[closeReason]) || "200";
}

/** `side` in APISIX mode: Sluice's `client` is APISIX's `downstream`. */
export function apisixBandwidthSide(side: "client" | "upstream"): "downstream" | "upstream" {
  return side === "client" ? "downstream" : "upstream";
}

/** Where an upstream lives, for `apisix_upstream_status{name}`. */
export type UpstreamHolder =
  /** an APISIX upstream object (`/apisix/admin/upstreams/:id`) */
  | { kind: "upstream"; id: string }
  /** the inline upstream of a stream route written through the APISIX Admin API */
  | { kind: "stream_route"; id: string }
  /** a Sluice service's upstream; APISIX keeps a service's upstream under `/apisix/services/<id>` */
  | { kind: "service"; id: string };

/**
 * The Sluice service an APISIX stream route runs as is `apisix-stream-route-<id>` (the APISIX Admin API's
 * mirror, src/store/apisix-objects.ts `mirrorServiceId`); any other service is a Sluice service.
 */
export const apisixStreamRouteServicePrefix = "apisix-stream-route-";

/**
 * Who holds the upstream a health report names. A stream route written through the APISIX Admin API
 * reports as that route (`/apisix/stream_routes/<id>`) whether its upstream is inline or named by
 * `upstream_id`: the gateway's config keeps one upstream per route, not the upstream object's id.
 */
export function upstreamHolderOfService(serviceId: string): UpstreamHolder {
  if (serviceId.startsWith(apisixStreamRouteServicePrefix)) {
    return { kind: "stream_route", id: serviceId.slice(apisixStreamRouteServicePrefix.length) };
  }
  return { kind: "service", id: serviceId };
}

/** `{name, ip, port}` of `apisix_upstream_status` for a node `host:port` (IPv6 as `[addr]:port`). */
export function apisixUpstreamStatusLabels(
  holder: UpstreamHolder,
  node: string,
): { name: string; ip: string; port: string } {
  const folder =
    holder.kind === "upstream" ? "upstreams" : holder.kind === "stream_route" ? "stream_routes" : "services";
  const at = node.lastIndexOf(":");
  const host = at < 0 ? node : node.slice(0, at);
  return {
    name: `/apisix/${folder}/${holder.id}`,
    ip: host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host,
    port: at < 0 ? "" : node.slice(at + 1),
  };
}
