/**
 * The gateway's Prometheus metrics (prom-client), DESIGN.md §4. One `GatewayMetrics` per process,
 * made by `configureMetrics` (the CLI calls it once with the configured prefix: `sluice_` by default,
 * `apisix_` for APISIX dashboards) and reached by the prometheus and syslog plugins through
 * `gatewayMetrics()`. The status server serves `metricsText()`.
 *
 * Counters carry the `_total` suffix Prometheus naming asks for (`promtool check metrics` rejects a
 * counter without it), so the status family is `<prefix>stream_status_total` and the bandwidth family
 * `<prefix>stream_bandwidth_total`.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { formatHostPort } from "../net/addresses.ts";
import type { ServiceHealthSnapshot } from "../proxy/health/health-checks.ts";

export interface MetricsOptions {
  /** metric name prefix, `sluice_` by default */
  prefix?: string;
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

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly prefix: string;
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
  private readonly configVersion: Gauge<"gateway_group">;
  private healthSource: (() => ServiceHealthSnapshot[]) | undefined;

  constructor(options: MetricsOptions = {}) {
    const p = options.prefix ?? "sluice_";
    this.prefix = p;
    const registers = [this.registry];
    this.connections = new Counter({
      name: `${p}stream_connection_total`,
      help: "Stream connections and UDP sessions handled, by route",
      labelNames: ["route"],
      registers,
    });
    this.activeConnections = new Gauge({
      name: `${p}stream_active_connections`,
      help: "Stream connections and UDP sessions open now, by listener",
      labelNames: ["listen_addr"],
      registers,
    });
    this.status = new Counter({
      name: `${p}stream_status_total`,
      help: "Ended stream connections by status code (200 proxied, 403 denied, 502 no upstream, 503 limited)",
      labelNames: ["code", "listen_addr", "node"],
      registers,
    });
    this.bandwidth = new Counter({
      name: `${p}stream_bandwidth_total`,
      help: "Bytes proxied; type ingress = received, egress = sent; side client or upstream",
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
    this.configVersion = new Gauge({
      name: `${p}config_version`,
      help: "Version of the gateway group configuration this gateway applied",
      labelNames: ["gateway_group"],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: `${p}upstream_status`,
      help: "Upstream node health from the health checks: 1 healthy, 0 unhealthy",
      labelNames: ["service", "node"],
      registers,
      collect() {
        this.reset();
        for (const service of metrics.healthSource?.() ?? []) {
          for (const node of service.nodes)
            this.set({ service: service.service_id, node: node.node }, node.healthy ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: `${p}build_info`,
      help: "Sluice version and runtime",
      labelNames: ["version", "runtime"],
      registers,
    }).set({ version: options.version ?? "unknown", runtime: options.runtime ?? detectRuntime() }, 1);
  }

  /**
   * A session a plugin rejected in `preread`. The pipeline runs a plugin's `log` only for sessions that
   * reached its `preread`, so the prometheus plugin (priority 500) never sees what ip-restriction (3000)
   * or limit-conn (1003) rejected: those plugins count their rejects here, on every route.
   */
  recordRejected(listenAddress: string, listenPort: number, code: number): void {
    this.status.inc({ code: String(code), listen_addr: listenAddrLabel(listenAddress, listenPort), node: "" });
  }

  /** The lead's apply path calls this once a config version is applied. */
  setConfigVersion(gatewayGroup: string, version: number): void {
    this.configVersion.reset();
    this.configVersion.set({ gateway_group: gatewayGroup }, version);
  }

  /** Where `upstream_status` reads node health at scrape time (`HealthChecks.snapshot`). */
  setHealthSource(source: (() => ServiceHealthSnapshot[]) | undefined): void {
    this.healthSource = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

let current: GatewayMetrics | undefined;

/** Makes the process's metrics (replacing any earlier ones); call before the first config is applied. */
export function configureMetrics(options: MetricsOptions = {}): GatewayMetrics {
  current = new GatewayMetrics(options);
  return current;
}

/** The process's metrics, made with the defaults if `configureMetrics` was not called. */
export function gatewayMetrics(): GatewayMetrics {
  current ??= new GatewayMetrics();
  return current;
}

/** The Prometheus text exposition, for `/metrics` and `/apisix/prometheus/metrics`. */
export function metricsText(): Promise<string> {
  return gatewayMetrics().text();
}

export const metricsContentType = "text/plain; version=0.0.4; charset=utf-8";

/** `host:port` of a listener, IPv6 in brackets, as the `listen_addr` label shows it. */
export function listenAddrLabel(address: string, port: number): string {
  return formatHostPort(address, port);
}
