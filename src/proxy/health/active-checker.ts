/**
 * Runs one service's active probes on APISIX's schedule: a healthy node every `healthy.interval`
 * seconds, an unhealthy one every `unhealthy.interval`, at most `concurrency` probes in flight. Probing
 * starts as soon as the checker starts (at config apply), not on first traffic.
 */
import type { HealthThresholds } from "./node-state.ts";
import type { ActiveProbe } from "./probe.ts";
import type { FlipListener, TrackedNode, TrackedService } from "./tracked-service.ts";

/** How often due probes are looked for; intervals are whole seconds, so this bounds the lateness. */
const SCHEDULER_TICK_MS = 100;

export class ActiveChecker {
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight = 0;
  private stopped = false;
  private readonly thresholds: HealthThresholds;
  private readonly healthyIntervalMs: number;
  private readonly unhealthyIntervalMs: number;
  private readonly concurrency: number;
  private readonly portOverride: number | undefined;

  constructor(
    private readonly service: TrackedService,
    private readonly probe: ActiveProbe,
    private readonly onFlip: FlipListener,
  ) {
    const active = service.checks.active!;
    this.thresholds = {
      successes: active.healthy.successes,
      tcpFailures: active.unhealthy.tcp_failures,
      timeouts: active.unhealthy.timeouts,
    };
    this.healthyIntervalMs = active.healthy.interval * 1000;
    this.unhealthyIntervalMs = active.unhealthy.interval * 1000;
    this.concurrency = active.concurrency;
    this.portOverride = active.port;
  }

  start(): void {
    this.timer = setInterval(() => this.runDue(), SCHEDULER_TICK_MS);
    this.timer.unref?.();
    this.runDue();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private runDue(): void {
    const now = Date.now();
    for (const [name, node] of this.service.nodes) {
      if (this.inFlight >= this.concurrency) return;
      if (node.probing || node.nextProbeAt > now) continue;
      this.probeNode(name, node);
    }
  }

  private probeNode(name: string, node: TrackedNode): void {
    node.probing = true;
    this.inFlight++;
    void this.probe.probe(node.host, this.portOverride ?? node.port).then((outcome) => {
      node.probing = false;
      this.inFlight--;
      if (this.stopped || this.service.nodes.get(name) !== node) return;
      if (node.state.record(outcome, this.thresholds, "active")) this.onFlip(this.service, name, node);
      node.nextProbeAt = Date.now() + (node.state.healthy ? this.healthyIntervalMs : this.unhealthyIntervalMs);
    });
  }
}
