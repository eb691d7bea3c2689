/**
 * The traffic history behind the dashboard's charts: every 2 s, while someone watches, a sample of this
 * process's gateway counters (connections by route, active connections, bytes each way, ended sessions
 * by status code), ten minutes kept in a ring. Counters are cumulative; the page turns neighbouring
 * samples into rates. Sampling starts on the first request and stops when nobody asked for two minutes,
 * so an idle control plane does no work and a test process that never asks is not kept alive.
 */
import type { MetricObjectWithValues, MetricValue } from "prom-client";
/** a gateway's metrics as the charts read them (a `GatewayMetrics`, or the sum of a process's workers) */
export interface TrafficMetrics {
  readonly prefix: string;
  readonly registry: { getMetricsAsJSON(): Promise<MetricObjectWithValues<MetricValue<string>>[]> };
}

/** the gateway whose counters are sampled; undefined while none runs in this process */
export type TrafficSource = () => TrafficMetrics | undefined;

export const SAMPLE_EVERY_MS = 2000;
const KEEP_SAMPLES = 300;
const STOP_AFTER_IDLE_MS = 120_000;

export interface TrafficSample {
  /** ms since the epoch */
  t: number;
  active: number;
  /** bytes received from clients / sent to clients */
  bytes_in: number;
  bytes_out: number;
  /** connections and UDP sessions by route */
  routes: Record<string, number>;
  /** ended sessions by status code (200 proxied, 403 refused by a plugin, 502 no upstream, …) */
  codes: Record<string, number>;
  /** connections that matched no route */
  unmatched: number;
}

export class TrafficHistory {
  private readonly samples: TrafficSample[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastAsked = 0;

  constructor(private readonly source: TrafficSource) {}

  async read(): Promise<TrafficSample[]> {
    this.lastAsked = Date.now();
    if (!this.timer) {
      this.samples.push(await sampleNow(this.source()));
      this.timer = setInterval(() => void this.tick(), SAMPLE_EVERY_MS);
      (this.timer as { unref?: () => void }).unref?.();
    }
    return this.samples;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.lastAsked > STOP_AFTER_IDLE_MS) return this.stop();
    this.samples.push(await sampleNow(this.source()));
    if (this.samples.length > KEEP_SAMPLES) this.samples.splice(0, this.samples.length - KEEP_SAMPLES);
  }
}

async function sampleNow(metrics: TrafficMetrics | undefined): Promise<TrafficSample> {
  const families = metrics ? await metrics.registry.getMetricsAsJSON() : [];
  const prefixLength = metrics?.prefix.length ?? 0;
  const byName = new Map(families.map((f) => [f.name.slice(prefixLength), f]));
  const values = (name: string): MetricValue<string>[] =>
    (byName.get(name) as MetricObjectWithValues<MetricValue<string>> | undefined)?.values ?? [];
  const sample: TrafficSample = {
    t: Date.now(),
    active: 0,
    bytes_in: 0,
    bytes_out: 0,
    routes: {},
    codes: {},
    unmatched: 0,
  };
  // a family has Sluice's name or, in APISIX mode, APISIX's (src/compat/apisix-metric-names.ts)
  for (const v of values("stream_active_connections")) sample.active += v.value;
  for (const v of values("stream_unmatched_total")) sample.unmatched += v.value;
  for (const v of values("stream_connection_total")) {
    const route = String(v.labels.route ?? "");
    sample.routes[route] = (sample.routes[route] ?? 0) + v.value;
  }
  for (const v of [...values("stream_status_total"), ...values("stream_status")]) {
    const code = String(v.labels.code ?? "");
    sample.codes[code] = (sample.codes[code] ?? 0) + v.value;
  }
  for (const v of [...values("stream_bandwidth_total"), ...values("stream_bandwidth")]) {
    if (v.labels.side !== "client" && v.labels.side !== "downstream") continue;
    if (v.labels.type === "ingress") sample.bytes_in += v.value;
    else sample.bytes_out += v.value;
  }
  return sample;
}
