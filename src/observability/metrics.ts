/**
 * A gateway's Prometheus metrics (prom-client), DESIGN.md §4. Each gateway owns one `GatewayMetrics`
 * with its own registry, so two gateways in one process share no counters. The pipeline counts every
 * ended session itself (`RouteMetrics.sessionEnded`); plugins reach their route's `RouteMetrics` through
 * their environment, and the `prometheus` plugin only marks which routes export per-session metrics, as
 * in APISIX. The prefix is `sluice_` by default.
 *
 * Counters carry the `_total` suffix Prometheus naming asks for (`promtool check metrics` rejects a
 * counter without it), so the status family is `<prefix>stream_status_total` and the bandwidth family
 * `<prefix>stream_bandwidth_total`. APISIX mode (`compat: "apisix"`, prefix `apisix_`) registers the
 * families APISIX 3.x's exporter has under its names, labels and values instead
 * (src/compat/apisix-metric-names.ts); the mode is fixed when the registry is built, and the
 * per-session counting function is picked then too.
 */
import { hostname } from "node:os";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  apisixMetricNames,
  apisixStatusCode,
  apisixUpstreamStatusLabels,
  upstreamHolderOfService,
} from "../compat/apisix-metric-names.ts";
import { formatHostPort } from "../net/addresses.ts";

/** Node health as `upstream_status` shows it; the gateway's health checks provide it at scrape time. */
export interface NodeHealthReport {
  service_id: string;
  nodes: readonly { node: string; healthy: boolean }[];
}

/** What the metrics read of an ended connection or UDP session (the pipeline's `StreamSession`). */
export interface MeteredSession {
  readonly protocol: "tcp" | "udp";
  readonly server: { readonly address: string; readonly port: number };
  readonly route: { readonly id: string; readonly name: string };
  readonly code: number;
  readonly node?: string;
  /** the last node tried when no connect succeeded */
  readonly triedNode?: string;
  readonly connectMs?: number;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly closeReason?: string;
}

/**
 * Whose names the metrics carry: Sluice's own, or APISIX 3.x's exporter's (names, labels and label
 * values, src/compat/apisix-metric-names.ts) so APISIX dashboards and alert rules read them unchanged.
 */
export type MetricsCompat = "sluice" | "apisix";

export interface MetricsOptions {
  /** metric name prefix; `sluice_` by default, `apisix_` in APISIX mode */
  prefix?: string;
  /** `sluice` by default */
  compat?: MetricsCompat;
  /** the Sluice version for `build_info` */
  version?: string;
  /** the runtime for `build_info`, e.g. `node 20.20.2` (detected when absent) */
  runtime?: string;
}

function detectRuntime(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

/**
 * A registry of its own with `<prefix>build_info`: what a control-plane process serves on `/metrics`,
 * and the base of every gateway's metrics.
 */
export function processRegistry(options: MetricsOptions = {}): Registry {
  const registry = new Registry();
  const version = options.version ?? "unknown";
  if (options.compat === "apisix") {
    new Gauge({
      name: `${metricsPrefix(options)}node_info`,
      help: "Info of APISIX node",
      labelNames: ["hostname", "version"],
      registers: [registry],
      aggregator: "first",
    }).set({ hostname: hostname(), version }, 1);
    return registry;
  }
  new Gauge({
    name: `${metricsPrefix(options)}build_info`,
    help: "Sluice version and runtime",
    labelNames: ["version", "runtime"],
    registers: [registry],
    // the aggregators say how the primary of several workers sums their registries (AggregatorRegistry)
    aggregator: "first",
  }).set({ version, runtime: options.runtime ?? detectRuntime() }, 1);
  return registry;
}

/** the prefix the options ask for: `sluice_`, or `apisix_` in APISIX mode, unless set */
export function metricsPrefix(options: MetricsOptions): string {
  return options.prefix ?? (options.compat === "apisix" ? "apisix_" : "sluice_");
}

/** the family a Sluice metric is registered as: its APISIX name in APISIX mode, where APISIX has one */
function familyName(compat: MetricsCompat, sluice: string): string {
  if (compat !== "apisix") return sluice;
  return apisixMetricNames.find((m) => m.sluice === sluice)?.apisix ?? sluice;
}

/** the `HELP` text: APISIX's in APISIX mode, where APISIX has the family */
function helpText(compat: MetricsCompat, sluice: string, own: string): string {
  if (compat !== "apisix") return own;
  return apisixMetricNames.find((m) => m.sluice === sluice)?.help ?? own;
}

export class GatewayMetrics {
  readonly registry: Registry;
  readonly prefix: string;
  readonly compat: MetricsCompat;
  /**
   * Counts one ended session of an exporting route (`route` set) or, in APISIX mode, of any route (its
   * active and bandwidth series are the listener's, as nginx's zone). Chosen once for the mode, so the
   * per-session path carries no mode test.
   */
  readonly countEnded: (route: string | undefined, listen: string, session: MeteredSession) => void;
  /** whether every routed session moves the active and bandwidth series, not only exporting routes' */
  readonly countsEveryListener: boolean;
  /** the `side` label of the client's bytes: `client`, or APISIX's `downstream` */
  readonly clientSide: "client" | "downstream";
  /** connections / UDP sessions by route (id, or name with `prefer_name`) */
  readonly connections: Counter<"route">;
  readonly activeConnections: Gauge<"listen_addr">;
  /** ended sessions by code (200 proxied, 403, 502, 503, …), listener and upstream node */
  readonly status: Counter<"code" | "listen_addr" | "node">;
  /** bytes: `type` ingress (received) / egress (sent), `side` client / upstream */
  readonly bandwidth: Counter<"listen_addr" | "type" | "side">;
  readonly connectDuration: Histogram<never>;
  /** connections / datagrams that matched no route */
  readonly unmatched: Counter<"listen_addr">;
  /** syslog entries dropped after their retries, or because the buffer was full */
  readonly syslogDropped: Counter<"server">;
  /** connections and UDP sessions refused (`reason="limit"`: the process's connection budget was full) */
  readonly connectionsRefused: Counter<"protocol" | "reason">;
  /** UDP sessions closed early to make room for new ones */
  readonly udpSessionsEvicted: Counter<"reason">;
  /** the process's connection budget (`--max-connections`) */
  readonly maxConnections: Gauge<never>;
  /** TLS handshakes with clients that failed, by cause (`client_certificate`, `protocol`, `timeout`, …) */
  readonly tlsHandshakeFailures: Counter<"cause">;
  /** connections closed at their PROXY protocol header, by reason (`untrusted`, `malformed`, `timeout`) */
  readonly proxyProtocolRefused: Counter<"reason">;
  /** connections mqtt-proxy closed at their CONNECT, by reason (`malformed`, `timeout`, `protocol`, …) */
  readonly mqttConnectRefused: Counter<"reason">;
  private readonly configVersion: Gauge<"gateway_group">;
  private certificateExpiry: readonly { sni: string; notAfter: number }[] = [];
  private healthSource: (() => readonly NodeHealthReport[]) | undefined;

  constructor(options: MetricsOptions = {}) {
    const p = metricsPrefix(options);
    const compat = options.compat ?? "sluice";
    const name = (sluice: string) => `${p}${familyName(compat, sluice)}`;
    this.prefix = p;
    this.compat = compat;
    this.registry = processRegistry({ ...options, prefix: p, compat });
    const registers = [this.registry];
    this.countsEveryListener = compat === "apisix";
    this.clientSide = compat === "apisix" ? "downstream" : "client";
    this.countEnded = compat === "apisix" ? countApisixSession(this) : countSluiceSession(this);
    this.connections = new Counter({
      name: name("stream_connection_total"),
      help: helpText(compat, "stream_connection_total", "Stream connections and UDP sessions handled, by route"),
      labelNames: ["route"],
      registers,
    });
    this.activeConnections = new Gauge({
      name: name("stream_active_connections"),
      help: helpText(compat, "stream_active_connections", "Stream connections and UDP sessions open now, by listener"),
      labelNames: ["listen_addr"],
      registers,
    });
    this.status = new Counter({
      name: name("stream_status_total"),
      help: helpText(
        compat,
        "stream_status_total",
        "Ended stream connections by status code (200 proxied, 403 denied, 502 no upstream, 503 limited)",
      ),
      labelNames: ["code", "listen_addr", "node"],
      registers,
    });
    this.bandwidth = new Counter({
      name: name("stream_bandwidth_total"),
      help: helpText(
        compat,
        "stream_bandwidth_total",
        "Bytes proxied; type ingress = received, egress = sent; side client or upstream",
      ),
      labelNames: ["listen_addr", "type", "side"],
      registers,
    });
    this.connectDuration = new Histogram({
      name: `${p}stream_connect_duration_seconds`,
      help: "Time to connect to the upstream, retries included",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.unmatched = new Counter({
      name: `${p}stream_unmatched_total`,
      help: "Connections and UDP datagrams that matched no stream route, by listener",
      labelNames: ["listen_addr"],
      registers,
    });
    this.syslogDropped = new Counter({
      name: `${p}syslog_dropped_total`,
      help: "Syslog entries dropped (server unreachable after retries, or buffer full), by server",
      labelNames: ["server"],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: `${p}connections_refused_total`,
      help: "TCP connections refused and UDP sessions dropped before routing, by protocol and reason",
      labelNames: ["protocol", "reason"],
      registers,
    });
    this.udpSessionsEvicted = new Counter({
      name: `${p}udp_sessions_evicted_total`,
      help: "UDP sessions closed to make room (reason: listener bound or process connection limit)",
      labelNames: ["reason"],
      registers,
    });
    this.maxConnections = new Gauge({
      name: `${p}max_connections`,
      help: "TCP connections and UDP sessions this process holds at most (--max-connections)",
      registers,
    });
    this.tlsHandshakeFailures = new Counter({
      name: `${p}tls_handshake_failures_total`,
      help: "TLS handshakes with clients that failed on terminating routes, by cause",
      labelNames: ["cause"],
      registers,
    });
    this.proxyProtocolRefused = new Counter({
      name: `${p}proxy_protocol_refused_total`,
      help: "Connections and datagrams refused at their PROXY protocol header, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.mqttConnectRefused = new Counter({
      name: `${p}mqtt_connect_refused_total`,
      help: "Connections the mqtt-proxy plugin closed at their MQTT CONNECT, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.configVersion = new Gauge({
      name: `${p}config_version`,
      help: "Version of the gateway group configuration this gateway applied",
      labelNames: ["gateway_group"],
      registers,
      // with workers: the version every one of them serves
      aggregator: "min",
    });
    const metrics = this;
    new Gauge({
      name: `${p}ssl_certificate_expiry_seconds`,
      help: "Seconds until the certificate served for this SNI expires (negative: expired)",
      labelNames: ["sni"],
      registers,
      aggregator: "min",
      collect() {
        this.reset();
        const now = Date.now() / 1000;
        for (const c of metrics.certificateExpiry) this.set({ sni: c.sni }, Math.round(c.notAfter - now));
      },
    });
    if (compat === "apisix") {
      new Gauge({
        name: name("upstream_status"),
        help: "Upstream status from health check",
        labelNames: ["name", "ip", "port"],
        registers,
        aggregator: "max",
        collect() {
          this.reset();
          for (const service of metrics.healthSource?.() ?? []) {
            const holder = upstreamHolderOfService(service.service_id);
            for (const node of service.nodes)
              this.set(apisixUpstreamStatusLabels(holder, node.node), node.healthy ? 1 : 0);
          }
        },
      });
    } else {
      new Gauge({
        name: name("upstream_status"),
        help: "Upstream node health from the health checks: 1 healthy, 0 unhealthy",
        labelNames: ["service", "node"],
        registers,
        aggregator: "max",
        collect() {
          this.reset();
          for (const service of metrics.healthSource?.() ?? []) {
            for (const node of service.nodes)
              this.set({ service: service.service_id, node: node.node }, node.healthy ? 1 : 0);
          }
        },
      });
    }
  }

  /** the certificates this gateway serves, by name: `ssl_certificate_expiry_seconds` reads them at scrape */
  setCertificates(certificates: readonly { sni: string; notAfter: number }[]): void {
    this.certificateExpiry = certificates;
  }

  /** the config version this gateway serves */
  setConfigVersion(gatewayGroup: string, version: number): void {
    this.configVersion.reset();
    this.configVersion.set({ gateway_group: gatewayGroup }, version);
  }

  /** Where `upstream_status` reads node health at scrape time. */
  setHealthSource(source: (() => readonly NodeHealthReport[]) | undefined): void {
    this.healthSource = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The metrics scope of one route, lent to its plugins through their environment. Its sessions are
 * exported (connections, status, bandwidth, connect time, active gauge) once a plugin asks for it with
 * `exportSessions`, which is all the `prometheus` plugin does; the label is fixed when the route's
 * config is compiled, before its first session, so the active gauge goes up and down in pairs. In APISIX
 * mode the active gauge and bandwidth count every session of the route's listener, as APISIX's come from
 * nginx's per-listener zone, and `listen_addr` is the listener's configured address (`0.0.0.0:9100`), not
 * the address a connection reached.
 */
export class RouteMetrics {
  private label: string | undefined;
  /** `listen_addr` of the route's listener, once known; else each session's local address */
  private listen: string | undefined;

  constructor(readonly gateway: GatewayMetrics) {}

  /** export this route's sessions, labelled `route` */
  exportSessions(route: string): void {
    this.label = route;
  }

  /** the address the route's listener is bound to (APISIX mode labels by it) */
  listenOn(address: string, port: number): void {
    if (this.gateway.countsEveryListener) this.listen = listenAddrLabel(address, port);
  }

  get exported(): boolean {
    return this.label !== undefined;
  }

  private listenLabel(session: MeteredSession): string {
    return this.listen ?? listenAddrLabel(session.server.address, session.server.port);
  }

  /** a session of this route was routed (before its plugins ran) */
  sessionStarted(session: MeteredSession): void {
    if (this.label === undefined && !this.gateway.countsEveryListener) return;
    this.gateway.activeConnections.inc({ listen_addr: this.listenLabel(session) });
  }

  /** a session of this route ended, however it ended (proxied, rejected, no upstream, error) */
  sessionEnded(session: MeteredSession): void {
    if (this.label === undefined && !this.gateway.countsEveryListener) return;
    this.gateway.countEnded(this.label, this.listenLabel(session), session);
  }
}

/** Sluice's counting: `side` client / upstream, the session's own code. */
function countSluiceSession(m: GatewayMetrics) {
  return (route: string | undefined, listen: string, session: MeteredSession): void => {
    if (route === undefined) return;
    m.activeConnections.dec({ listen_addr: listen });
    m.connections.inc({ route });
    m.status.inc({ code: String(session.code), listen_addr: listen, node: session.node ?? "" });
    countBytes(m, listen, session, m.clientSide);
    if (session.connectMs !== undefined) m.connectDuration.observe(session.connectMs / 1000);
  };
}

/** APISIX's counting (exporter.lua `stream_log` and the listener zone): `side` downstream, APISIX's codes. */
function countApisixSession(m: GatewayMetrics) {
  return (route: string | undefined, listen: string, session: MeteredSession): void => {
    m.activeConnections.dec({ listen_addr: listen });
    countBytes(m, listen, session, m.clientSide);
    if (route === undefined) return;
    m.connections.inc({ route });
    const code = apisixStatusCode(session.code, session.closeReason, session.protocol);
    m.status.inc({ code, listen_addr: listen, node: session.node ?? session.triedNode ?? "" });
    if (session.connectMs !== undefined) m.connectDuration.observe(session.connectMs / 1000);
  };
}

function countBytes(m: GatewayMetrics, listen: string, session: MeteredSession, client: string): void {
  if (session.bytesFromClient > 0) {
    m.bandwidth.inc({ listen_addr: listen, type: "ingress", side: client }, session.bytesFromClient);
    if (session.node)
      m.bandwidth.inc({ listen_addr: listen, type: "egress", side: "upstream" }, session.bytesFromClient);
  }
  if (session.bytesToClient > 0) {
    m.bandwidth.inc({ listen_addr: listen, type: "egress", side: client }, session.bytesToClient);
    m.bandwidth.inc({ listen_addr: listen, type: "ingress", side: "upstream" }, session.bytesToClient);
  }
}

/** `host:port` of a listener, IPv6 in brackets, as the `listen_addr` label shows it. */
export function listenAddrLabel(address: string, port: number): string {
  return formatHostPort(address, port);
}
