/**
 * Passive checks: the pipeline reports every connect attempt; failures and timeouts count against the
 * node, successes bring it back, with `checks.passive` thresholds. As in APISIX, passive checks alone
 * cannot revive a node that no longer gets traffic: pair them with an active check (or rely on the
 * balancers using every node when none is healthy).
 */
import type { HealthThresholds, ProbeOutcome } from "./node-state.ts";
import type { FlipListener, TrackedService } from "./tracked-service.ts";

export class PassiveChecker {
  private readonly thresholds: HealthThresholds;

  constructor(
    private readonly service: TrackedService,
    private readonly onFlip: FlipListener,
  ) {
    const passive = service.checks.passive!;
    this.thresholds = {
      successes: passive.healthy.successes,
      tcpFailures: passive.unhealthy.tcp_failures,
      timeouts: passive.unhealthy.timeouts,
    };
  }

  report(node: string, outcome: ProbeOutcome): void {
    const tracked = this.service.nodes.get(node);
    if (tracked?.state.record(outcome, this.thresholds, "passive")) this.onFlip(this.service, node, tracked);
  }
}
