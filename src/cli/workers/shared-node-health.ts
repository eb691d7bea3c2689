/**
 * A worker's view of node health (`NodeHealth`): the primary runs the checks once for the process and
 * sends the result (`HealthView`); connect outcomes go back to it for the passive checks, only for the
 * services that have them.
 */
import type { NodeHealth } from "../../proxy/health/types.ts";
import type { IpcPeer } from "./ipc-peer.ts";
import type { ConnectOutcome, HealthView } from "./protocol.ts";

export class SharedNodeHealth implements NodeHealth {
  private down = new Map<string, Set<string>>();
  private passive = new Set<string>();

  constructor(private readonly primary: IpcPeer) {}

  update(view: HealthView): void {
    const down = new Map<string, Set<string>>();
    for (const [service, node] of view.down) {
      let nodes = down.get(service);
      if (!nodes) {
        nodes = new Set();
        down.set(service, nodes);
      }
      nodes.add(node);
    }
    this.down = down;
    this.passive = new Set(view.passive);
  }

  isHealthy(serviceId: string, node: string): boolean {
    return !this.down.get(serviceId)?.has(node);
  }

  reportConnect(service: string, node: string, outcome: ConnectOutcome["outcome"]): void {
    if (this.passive.has(service)) this.primary.notify("connect", { service, node, outcome } satisfies ConnectOutcome);
  }
}
