/**
 * `sluice apply`: the difference between a declarative file and what a control plane holds, as a list
 * of admin-API steps, and their execution. Things are matched by name (service name; route name within
 * its service). The file is the whole truth for stream services: services missing from it are
 * unpublished and deleted, as `adc sync` does; http services are never touched. A service whose template
 * or routes change, or that is not published in the group as written, is (re)published, so the group's
 * gateways run exactly the file. Applying the same file twice makes no step the second time.
 */

import { upstream as upstreamSchema } from "../config/schema.ts";
import type { GatewayConfig, PublishedService } from "../config/types.ts";
import type { AdminClient } from "./admin-client.ts";
import { canonicalJson } from "./canonical-json.ts";
import type { DeclarativeFile, DeclarativeRoute, DeclarativeService } from "./file-format.ts";

type Json = Record<string, unknown>;

export interface RemoteRoute extends Json {
  id: string;
  name: string;
}

export interface RemoteService extends Json {
  id: string;
  name: string;
  type: string;
  routes: RemoteRoute[];
}

export interface Snapshot {
  group: { id: string; name: string; stream_port_ranges?: string[] };
  services: RemoteService[];
  published: GatewayConfig;
}

export type Step =
  | { kind: "create-service"; service: string; body: Json }
  | { kind: "update-service"; service: string; id: string; body: Json; fields: string[] }
  | { kind: "delete-service"; service: string; id: string; published: boolean }
  | { kind: "create-route"; service: string; route: string; body: Json }
  | { kind: "update-route"; service: string; route: string; routeId: string; body: Json; fields: string[] }
  | { kind: "delete-route"; service: string; route: string; routeId: string }
  | { kind: "publish"; service: string };

export async function loadSnapshot(client: AdminClient, groupRef: string): Promise<Snapshot> {
  const groups = await client.list<{ id: string; name: string; stream_port_ranges?: string[] }>("/api/gateway_groups");
  const group = groups.find((g) => g.name === groupRef) ?? groups.find((g) => g.id === groupRef);
  if (!group) throw new Error(`gateway group '${groupRef}' not found`);
  const all = await client.list<RemoteService>("/api/services");
  const services: RemoteService[] = [];
  for (const s of all) {
    if (s.type !== "stream") continue;
    const routes = await client.list<RemoteRoute>(`/api/services/${encodeURIComponent(s.id)}/stream_routes`);
    services.push({ ...s, routes });
  }
  const { value: published } = await client.request<{ value: GatewayConfig }>(
    "GET",
    `/api/gateway_groups/${encodeURIComponent(group.id)}/config`,
  );
  return { group, services, published };
}

/** the admin-API body of a service as the file describes it */
export function serviceBody(s: DeclarativeService): Json {
  return {
    name: s.name,
    desc: s.description,
    labels: s.labels ?? {},
    type: "stream",
    upstream: s.upstream,
    plugins: s.plugins ?? {},
  };
}

export function routeBody(r: DeclarativeRoute): Json {
  return {
    name: r.name,
    desc: r.description,
    labels: r.labels ?? {},
    server_addr: r.server_addr,
    server_port: r.server_port,
    remote_addr: r.remote_addr,
    sni: r.sni,
    plugins: r.plugins ?? {},
  };
}

const serviceFields = ["desc", "labels", "upstream", "plugins"] as const;
const routeFields = ["desc", "labels", "server_addr", "server_port", "remote_addr", "sni", "plugins"] as const;

export function planApply(file: DeclarativeFile, snapshot: Snapshot): Step[] {
  const steps: Step[] = [];
  const remoteByName = new Map(snapshot.services.map((s) => [s.name, s]));
  const publishedById = new Map(snapshot.published.services.map((s) => [s.id, s]));
  const wanted = new Set(file.services.map((s) => s.name));

  for (const remote of snapshot.services) {
    if (!wanted.has(remote.name)) {
      steps.push({
        kind: "delete-service",
        service: remote.name,
        id: remote.id,
        published: publishedById.has(remote.id),
      });
    }
  }
  for (const s of file.services) {
    const remote = remoteByName.get(s.name);
    const body = serviceBody(s);
    let changed = false;
    if (!remote) {
      steps.push({ kind: "create-service", service: s.name, body });
      changed = true;
    } else {
      const fields = serviceFields.filter((f) => !same(normaliseService(f, body[f]), normaliseService(f, remote[f])));
      if (fields.length > 0) {
        steps.push({ kind: "update-service", service: s.name, id: remote.id, body, fields });
        changed = true;
      }
    }
    const remoteRoutes = new Map((remote?.routes ?? []).map((r) => [r.name, r]));
    const wantedRoutes = new Set(s.stream_routes.map((r) => r.name));
    for (const r of remote?.routes ?? []) {
      if (!wantedRoutes.has(r.name)) {
        steps.push({ kind: "delete-route", service: s.name, route: r.name, routeId: r.id });
        changed = true;
      }
    }
    for (const r of s.stream_routes) {
      const rb = routeBody(r);
      const existing = remoteRoutes.get(r.name);
      if (!existing) {
        steps.push({ kind: "create-route", service: s.name, route: r.name, body: rb });
        changed = true;
        continue;
      }
      const fields = routeFields.filter((f) => !same(normaliseRoute(f, rb[f]), normaliseRoute(f, existing[f])));
      if (fields.length > 0) {
        steps.push({ kind: "update-route", service: s.name, route: r.name, routeId: existing.id, body: rb, fields });
        changed = true;
      }
    }
    const published = remote ? publishedById.get(remote.id) : undefined;
    if (changed || !published || !publishedMatches(s, published)) steps.push({ kind: "publish", service: s.name });
  }
  return steps;
}

export function describeStep(step: Step, group: string): string {
  switch (step.kind) {
    case "create-service":
      return `+ service ${step.service}`;
    case "update-service":
      return `~ service ${step.service} (${step.fields.join(", ")})`;
    case "delete-service":
      return `- service ${step.service}${step.published ? ` (unpublished from ${group} first)` : ""}`;
    case "create-route":
      return `+ stream route ${step.service}/${step.route}`;
    case "update-route":
      return `~ stream route ${step.service}/${step.route} (${step.fields.join(", ")})`;
    case "delete-route":
      return `- stream route ${step.service}/${step.route}`;
    case "publish":
      return `> publish ${step.service} to ${group}`;
  }
}

/** runs the steps in order; service ids of services created on the way are filled in as they come */
export async function executePlan(client: AdminClient, snapshot: Snapshot, steps: Step[]): Promise<void> {
  const ids = new Map(snapshot.services.map((s) => [s.name, s.id]));
  const gid = encodeURIComponent(snapshot.group.id);
  const sid = (name: string) => encodeURIComponent(ids.get(name)!);
  for (const step of steps) {
    switch (step.kind) {
      case "delete-service":
        if (step.published) await client.request("DELETE", `/api/gateway_groups/${gid}/services/${sid(step.service)}`);
        await client.request("DELETE", `/api/services/${sid(step.service)}`);
        break;
      case "create-service": {
        const res = await client.request<{ value: { id: string } }>("POST", "/api/services", clean(step.body));
        ids.set(step.service, res.value.id);
        break;
      }
      case "update-service":
        await client.request("PUT", `/api/services/${sid(step.service)}`, clean(step.body));
        break;
      case "delete-route":
        await client.request(
          "DELETE",
          `/api/services/${sid(step.service)}/stream_routes/${encodeURIComponent(step.routeId)}`,
        );
        break;
      case "create-route":
        await client.request("POST", `/api/services/${sid(step.service)}/stream_routes`, clean(step.body));
        break;
      case "update-route":
        await client.request(
          "PUT",
          `/api/services/${sid(step.service)}/stream_routes/${encodeURIComponent(step.routeId)}`,
          clean(step.body),
        );
        break;
      case "publish":
        await client.request("POST", `/api/services/${sid(step.service)}/publish`, {
          gateway_group_id: snapshot.group.id,
        });
        break;
    }
  }
}

function clean(body: Json): Json {
  return JSON.parse(JSON.stringify(body)) as Json;
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function emptyToUndefined(v: unknown): unknown {
  if (v === null || v === "") return undefined;
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) return undefined;
  return v;
}

/** both sides through the same schema, so defaults and the node-map form compare equal */
function normaliseUpstream(v: unknown): unknown {
  const parsed = upstreamSchema.safeParse(v);
  return parsed.success ? parsed.data : v;
}

function normaliseService(field: string, v: unknown): unknown {
  return field === "upstream" ? normaliseUpstream(v) : emptyToUndefined(v);
}

function normaliseRoute(_field: string, v: unknown): unknown {
  return emptyToUndefined(v);
}

/** is the group running this service as the file says (runtime-upstream nodes aside)? */
function publishedMatches(s: DeclarativeService, p: PublishedService): boolean {
  const { nodes: _a, ...want } = normaliseUpstream(s.upstream) as Json;
  const { nodes: _b, ...have } = normaliseUpstream(p.upstream) as Json;
  if (!same(want, have) || !same(emptyToUndefined(s.plugins), emptyToUndefined(p.plugins))) return false;
  const key = (r: {
    name: string;
    server_addr?: string;
    server_port: number;
    remote_addr?: string;
    sni?: string;
    plugins?: unknown;
  }) =>
    canonicalJson({
      name: r.name,
      server_addr: r.server_addr,
      server_port: r.server_port,
      remote_addr: r.remote_addr,
      sni: r.sni,
      plugins: emptyToUndefined(r.plugins),
    });
  const a = s.stream_routes.map(key).sort();
  const b = p.stream_routes.map(key).sort();
  return same(a, b);
}

/** routes whose port the group may not open: checked before anything changes */
export function portRangeProblems(file: DeclarativeFile, ranges: string[] | undefined): string[] {
  if (!ranges || ranges.length === 0) return [];
  const spans = ranges.map((r) => {
    const [a, b = a] = r.split("-").map(Number) as [number, number?];
    return [a, b!] as const;
  });
  const problems: string[] = [];
  file.services.forEach((s, i) => {
    s.stream_routes.forEach((r, j) => {
      if (!spans.some(([a, b]) => r.server_port >= a && r.server_port <= b)) {
        problems.push(
          `services[${i}].stream_routes[${j}].server_port: ${r.server_port} is outside the group's stream_port_ranges (${ranges.join(", ")})`,
        );
      }
    });
  });
  return problems;
}
