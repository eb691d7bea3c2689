/**
 * Node health as the balancers see it. The health-check module (active TCP/UDP probes, passive
 * counting) implements it; the pipeline only asks and reports. A node is named `host:port`.
 */
export interface NodeHealth {
  /** true unless checks marked the node down; a service without checks is always healthy */
  isHealthy(serviceId: string, node: string): boolean;
  /** passive checks: the outcome of one connect attempt to a node */
  reportConnect(serviceId: string, node: string, outcome: "ok" | "failure" | "timeout"): void;
}

/** The health view used when no checks are configured. */
export const alwaysHealthy: NodeHealth = {
  isHealthy: () => true,
  reportConnect: () => {},
};
