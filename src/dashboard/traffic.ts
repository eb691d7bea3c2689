/**
 * The traffic history behind the dashboard's charts: every 2 s, while someone watches, a sample of this
 * process's gateway counters (connections by route, active connections, bytes each way, ended sessions
 * by status code), ten minutes kept in a ring. Counters are cumulative; the page turns neighbouring
 * samples into rates. Sampling starts on the first request and stops when nobody asked for two minutes,
 * so an idle control plane does no work and a test process that never asks is not kept alive.
 */
import type { GatewayMetrics } from "../observability/metrics.ts";

/** the gateway whose counters are sampled; undefined while none runs in this process */
export type TrafficSource = () => GatewayMetrics | undefined;

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

async function sampleNow(metrics: GatewayMetrics | undefined): Promise<TrafficSample> {
  const sample: TrafficSample = {
    t: Date.now(),
    active: 0,
    bytes_in: 0,
    bytes_out: 0,
    routes: {},
    codes: {},
    unmatched: 0,
  };
  if (!metrics) return sample;
  // read through the metric objects, not their names: APISIX mode names and labels them APISIX's way
  const [active, unmatched, connections, status, bandwidth] = await Promise.all([
    metrics.activeConnections.get(),
    metrics.unmatched.get(),
    metrics.connections.get(),
    metrics.status.get(),
    metrics.bandwidth.get(),
  ]);
  for (const v of active.values) sample.active += v.value;
  for (const v of unmatched.values) sample.unmatched += v.value;
  for (const v of connections.values) {
    const route = String(v.labels.route ?? "");
    sample.routes[route] = (sample.routes[route] ?? 0) + v.value;
  }
  for (const v of status.values) {
    const code = String(v.labels.code ?? "");
    sample.codes[code] = (sample.codes[code] ?? 0) + v.value;
  }
  for (const v of bandwidth.values) {
    if (v.labels.side !== metrics.clientSide) continue;
    if (v.labels.type === "ingress") sample.bytes_in += v.value;
    else sample.bytes_out += v.value;
  }
  return sample;
}
