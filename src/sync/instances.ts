/**
 * Gateway instances as the control plane knows them: what a registry records from the config stream's
 * hello and each heartbeat, the view the admin API lists, and how the node health the gateways report
 * merges into one answer per group.
 */
import type { HeartbeatBody, InstanceHello, InstanceStatus } from "./protocol.ts";

export interface InstanceView {
  id: string;
  gateway_group_id: string;
  hostname: string;
  address: string;
  runtime: string;
  /** worker processes of this instance (`--workers`), read from its runtime text */
  workers: number;
  sluice_version: string;
  config_version: number;
  config_error: { version: number; message: string } | null;
  listeners: HeartbeatBody["listeners"];
  health: HeartbeatBody["health"];
  active_connections: number;
  first_seen_at: string;
  last_heartbeat_at: string;
  status: InstanceStatus;
}

export interface InstanceRegistry {
  /** a gateway opened its config stream */
  hello(groupId: string, hello: InstanceHello): Promise<void>;
  heartbeat(groupId: string, body: HeartbeatBody): Promise<void>;
  /** the group's instances with their status; also forgets instances silent for 7 days */
  list(groupId: string): Promise<InstanceView[]>;
}

export type NodeHealthStatus = "healthy" | "unhealthy" | "partial";

export interface ServiceNodeHealth {
  service_id: string;
  nodes: Array<{
    node: string;
    status: NodeHealthStatus;
    healthy_on: number;
    unhealthy_on: number;
    instances: Array<{ id: string; hostname: string; status: string }>;
  }>;
}

/**
 * Upstream node health as a group's gateways see it, from their heartbeats (only gateways heard from in
 * the last 30 s count). A node is `healthy` when every reporting gateway sees it up, `unhealthy` when
 * every one sees it down, `partial` otherwise: health checks run per gateway, so they may disagree
 * (e.g. a network split).
 */
export function mergeNodeHealth(instances: readonly InstanceView[]): ServiceNodeHealth[] {
  const byService = new Map<string, Map<string, { id: string; hostname: string; status: string }[]>>();
  for (const instance of instances) {
    if (instance.status !== "healthy") continue;
    for (const [serviceId, nodes] of Object.entries(instance.health)) {
      let service = byService.get(serviceId);
      if (!service) {
        service = new Map();
        byService.set(serviceId, service);
      }
      for (const [node, status] of Object.entries(nodes)) {
        let views = service.get(node);
        if (!views) {
          views = [];
          service.set(node, views);
        }
        views.push({ id: instance.id, hostname: instance.hostname, status });
      }
    }
  }
  return [...byService].map(([serviceId, nodes]) => ({
    service_id: serviceId,
    nodes: [...nodes].map(([node, views]) => {
      const up = views.filter((v) => nodeIsUp(v.status)).length;
      const status: NodeHealthStatus = up === views.length ? "healthy" : up === 0 ? "unhealthy" : "partial";
      return { node, status, healthy_on: up, unhealthy_on: views.length - up, instances: views };
    }),
  }));
}

/** lua-resty-healthcheck's `mostly_healthy` is still in the balancer; `mostly_unhealthy` is still out */
function nodeIsUp(status: string): boolean {
  return status === "healthy" || status === "mostly_healthy";
}
