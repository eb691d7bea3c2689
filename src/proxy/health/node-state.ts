/**
 * The health counters of one upstream node, with lua-resty-healthcheck's rules (what APISIX uses):
 * a healthy node turns unhealthy once its TCP failures or its timeouts reach their threshold; an
 * unhealthy node turns healthy once its successes reach theirs. Active and passive checks feed the same
 * counters, each with its own thresholds. A threshold of 0 disables that counter (as in APISIX).
 */

export type ProbeOutcome = "ok" | "failure" | "timeout";

export interface HealthThresholds {
  successes: number;
  tcpFailures: number;
  timeouts: number;
}

/** APISIX's status words: `mostly_*` means the counters are moving towards the other state. */
export type NodeStatus = "healthy" | "mostly_healthy" | "unhealthy" | "mostly_unhealthy";

export interface NodeCounters {
  success: number;
  tcp_failure: number;
  timeout: number;
}

export class NodeState {
  healthy = true;
  readonly counters: NodeCounters = { success: 0, tcp_failure: 0, timeout: 0 };
  /** ms since epoch of the last healthy/unhealthy change (the start of tracking at first) */
  lastChange = Date.now();
  /** why the last change happened, for the snapshot and the log */
  lastReason = "initial";

  /** Records one outcome; returns true when it flipped the node's health. */
  record(outcome: ProbeOutcome, limits: HealthThresholds, source: "active" | "passive"): boolean {
    const c = this.counters;
    if (outcome === "ok") {
      c.tcp_failure = 0;
      c.timeout = 0;
      if (this.healthy) return false;
      c.success++;
      if (limits.successes > 0 && c.success >= limits.successes)
        return this.flip(true, `${source}: ${c.success} successes`);
      return false;
    }
    c.success = 0;
    if (!this.healthy) return false;
    if (outcome === "failure") {
      c.tcp_failure++;
      if (limits.tcpFailures > 0 && c.tcp_failure >= limits.tcpFailures) {
        return this.flip(false, `${source}: ${c.tcp_failure} tcp failures`);
      }
      return false;
    }
    c.timeout++;
    if (limits.timeouts > 0 && c.timeout >= limits.timeouts)
      return this.flip(false, `${source}: ${c.timeout} timeouts`);
    return false;
  }

  get status(): NodeStatus {
    const c = this.counters;
    if (this.healthy) return c.tcp_failure > 0 || c.timeout > 0 ? "mostly_healthy" : "healthy";
    return c.success > 0 ? "mostly_unhealthy" : "unhealthy";
  }

  private flip(healthy: boolean, reason: string): boolean {
    this.healthy = healthy;
    this.counters.success = 0;
    this.counters.tcp_failure = 0;
    this.counters.timeout = 0;
    this.lastChange = Date.now();
    this.lastReason = reason;
    return true;
  }
}
