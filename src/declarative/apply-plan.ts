/**
 * `sluice apply`: the difference between a declarative file and what a control plane holds, as a list
 * of admin-API steps, and their execution. Things are matched by name (service name; route name within
 * its service). The file is the whole truth for stream services: services missing from it are
 * unpublished and deleted, as `adc sync` does; http services are never touched. A service whose template
 * or routes change, or that is not published in the group as written, is (re)published, so the group's
 * gateways run exactly the file. Applying the same file twice makes no step the second time.
 *
 * A file given ADC `id`s is matched by id (so a rename is an update); the file's `ssls` are the group's
 * certificates, its `global_rules` and `plugin_metadata` the group's; each kind is the file's whole
 * truth unless the resource-type filters leave it out (`file.managed`).
 */

import { compileUpstream } from "../config/compile.ts";
import { upstream as upstreamSchema } from "../config/schema.ts";
import type { GatewayConfig, PublishedService } from "../config/types.ts";
import type { AdminClient } from "./admin-client.ts";
import { canonicalJson } from "./canonical-json.ts";
import {
  type DeclarativeFile,
  type DeclarativeRoute,
  type DeclarativeService,
  type DeclarativeSsl,
  isStoredKeyReference,
  sslFieldsOf,
} from "./file-format.ts";

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

export interface RemoteSsl extends Json {
  id: string;
  snis: string[];
  cert: string;
}

export interface RemoteGroup {
  id: string;
  name: string;
  stream_port_ranges?: string[];
  global_rules?: Json;
  plugin_metadata?: Json;
}

export interface Snapshot {
  group: RemoteGroup;
  services: RemoteService[];
  ssls: RemoteSsl[];
  published: GatewayConfig;
}

export type Step =
  | { kind: "create-service"; service: string; body: Json }
  | { kind: "update-service"; service: string; id: string; body: Json; fields: string[] }
  | { kind: "delete-service"; service: string; id: string; published: boolean }
  | { kind: "create-route"; service: string; route: string; body: Json }
  | { kind: "update-route"; service: string; route: string; routeId: string; body: Json; fields: string[] }
  | { kind: "delete-route"; service: string; route: string; routeId: string }
  | { kind: "publish"; service: string }
  | { kind: "create-ssl"; ssl: string; body: Json }
  | { kind: "update-ssl"; ssl: string; id: string; body: Json; fields: string[] }
  | { kind: "delete-ssl"; ssl: string; id: string }
  | { kind: "set-global-rules"; body: Json }
  | { kind: "set-plugin-metadata"; body: Json };

export async function loadSnapshot(client: AdminClient, groupRef: string): Promise<Snapshot> {
  const groups = await client.list<RemoteGroup>("/api/gateway_groups");
  const group = groups.find((g) => g.name === groupRef) ?? groups.find((g) => g.id === groupRef);
  if (!group) throw new Error(`gateway group '${groupRef}' not found`);
  const all = await client.list<RemoteService>("/api/services");
  const services: RemoteService[] = [];
  for (const s of all) {
    // services the APISIX Admin API owns are changed there only, never by a file
    if (s.type !== "stream" || s.managed_by !== undefined) continue;
    const routes = await client.list<RemoteRoute>(`/api/services/${encodeURIComponent(s.id)}/stream_routes`);
    services.push({ ...s, routes });
  }
  const { value: published } = await client.request<{ value: GatewayConfig }>(
    "GET",
    `/api/gateway_groups/${encodeURIComponent(group.id)}/config`,
  );
  const ssls = await client.list<RemoteSsl>(`/api/gateway_groups/${encodeURIComponent(group.id)}/ssls`);
  return { group, services, ssls, published };
}

/** the admin-API body of a service as the file describes it */
export function serviceBody(s: DeclarativeService): Json {
  return {
    name: s.name,
    desc: s.description,
    labels: s.labels ?? {},
    type: "stream",
    upstream: s.upstream,
    upstreams: s.upstreams,
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
    tls: r.tls,
    proxy_protocol: r.proxy_protocol,
    plugins: r.plugins ?? {},
  };
}

const serviceFields = ["name", "desc", "labels", "upstream", "upstreams", "plugins"] as const;
const routeFields = [
  "name",
  "desc",
  "labels",
  "server_addr",
  "server_port",
  "remote_addr",
  "sni",
  "tls",
  "proxy_protocol",
  "plugins",
] as const;
const sslFields = ["snis", "cert", "certs", "client", "ssl_protocols", "labels"] as const;

export function planApply(file: DeclarativeFile, snapshot: Snapshot): Step[] {
  const steps: Step[] = [];
  const sslSteps = file.managed.ssls ? planSsls(file.ssls, snapshot.ssls) : [];
  // certificates come first, so the routes published next find theirs
  steps.push(...sslSteps.filter((s) => s.kind !== "delete-ssl"));
  if (file.managed.services) steps.push(...planServices(file, snapshot));
  if (
    file.managed.global_rules &&
    !same(emptyToUndefined(file.global_rules), emptyToUndefined(snapshot.group.global_rules))
  )
    steps.push({ kind: "set-global-rules", body: file.global_rules ?? {} });
  if (
    file.managed.plugin_metadata &&
    !same(emptyToUndefined(file.plugin_metadata), emptyToUndefined(snapshot.group.plugin_metadata))
  )
    steps.push({ kind: "set-plugin-metadata", body: file.plugin_metadata ?? {} });
  // and go last, once no published route needs them
  steps.push(...sslSteps.filter((s) => s.kind === "delete-ssl"));
  return steps;
}

function planServices(file: DeclarativeFile, snapshot: Snapshot): Step[] {
  const steps: Step[] = [];
  const remoteByName = new Map(snapshot.services.map((s) => [s.name, s]));
  const remoteById = new Map(snapshot.services.map((s) => [s.id, s]));
  const publishedById = new Map(snapshot.published.services.map((s) => [s.id, s]));
  const matchOf = (s: DeclarativeService) => (s.id !== undefined ? remoteById.get(s.id) : remoteByName.get(s.name));
  const wanted = new Set(file.services.flatMap((s) => matchOf(s)?.id ?? []));

  for (const remote of snapshot.services) {
    if (!wanted.has(remote.id)) {
      steps.push({
        kind: "delete-service",
        service: remote.name,
        id: remote.id,
        published: publishedById.has(remote.id),
      });
    }
  }
  for (const s of file.services) {
    const remote = matchOf(s);
    const body = serviceBody(s);
    let changed = false;
    if (!remote) {
      steps.push({ kind: "create-service", service: s.name, body: s.id === undefined ? body : { id: s.id, ...body } });
      changed = true;
    } else {
      const fields = serviceFields.filter((f) => !same(normaliseService(f, body[f]), normaliseService(f, remote[f])));
      if (fields.length > 0) {
        steps.push({ kind: "update-service", service: s.name, id: remote.id, body, fields });
        changed = true;
      }
    }
    const remoteRoutes = remote?.routes ?? [];
    const routeMatch = (r: DeclarativeRoute) =>
      r.id !== undefined ? remoteRoutes.find((x) => x.id === r.id) : remoteRoutes.find((x) => x.name === r.name);
    const wantedRoutes = new Set(s.stream_routes.flatMap((r) => routeMatch(r)?.id ?? []));
    for (const r of remoteRoutes) {
      if (!wantedRoutes.has(r.id)) {
        steps.push({ kind: "delete-route", service: s.name, route: r.name, routeId: r.id });
        changed = true;
      }
    }
    for (const r of s.stream_routes) {
      const rb = routeBody(r);
      const existing = routeMatch(r);
      if (!existing) {
        steps.push({
          kind: "create-route",
          service: s.name,
          route: r.name,
          body: r.id === undefined ? rb : { id: r.id, ...rb },
        });
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

/** the file's certificates against the group's: matched by id, else by the certificate itself */
function planSsls(ssls: DeclarativeSsl[], remote: RemoteSsl[]): Step[] {
  const steps: Step[] = [];
  const kept = new Set<string>();
  ssls.forEach((ssl, i) => {
    const label = `ssls[${i}] (${ssl.snis.join(", ")})`;
    const fields = sslFieldsOf(ssl);
    const match =
      remote.find((r) => ssl.id !== undefined && r.id === ssl.id) ??
      remote.find((r) => !kept.has(r.id) && r.cert.trim() === fields.cert.trim());
    if (!match) {
      steps.push({ kind: "create-ssl", ssl: label, body: fields as unknown as Json });
      return;
    }
    kept.add(match.id);
    const body = fields as unknown as Json;
    const changed = sslFields.filter((f) => !same(normaliseSsl(f, body[f]), normaliseSsl(f, match[f])));
    if (changed.length > 0) steps.push({ kind: "update-ssl", ssl: label, id: match.id, body, fields: changed });
  });
  for (const r of remote) if (!kept.has(r.id)) steps.push({ kind: "delete-ssl", ssl: r.snis.join(", "), id: r.id });
  return steps;
}

/** problems a plan cannot carry out: a dump's key reference whose certificate is not the group's any more */
export function sslKeyProblems(steps: Step[]): string[] {
  return steps.flatMap((step) => {
    if (step.kind !== "create-ssl" && step.kind !== "update-ssl") return [];
    const key = (step.body as { key?: string }).key ?? "";
    return isStoredKeyReference(key)
      ? [
          `${step.ssl}: its key is a reference to a stored key ('sluice dump' output) but the certificate is new or changed; write the PEM key`,
        ]
      : [];
  });
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
    case "create-ssl":
      return `+ certificate ${step.ssl}`;
    case "update-ssl":
      return `~ certificate ${step.ssl} (${step.fields.join(", ")})`;
    case "delete-ssl":
      return `- certificate ${step.ssl}`;
    case "set-global-rules":
      return `~ global_rules of ${group} (${Object.keys(step.body).join(", ") || "none"})`;
    case "set-plugin-metadata":
      return `~ plugin_metadata of ${group} (${Object.keys(step.body).join(", ") || "none"})`;
  }
}

/** runs the steps in order; service ids of services created on the way are filled in as they come */
export async function executePlan(client: AdminClient, snapshot: Snapshot, steps: Step[]): Promise<void> {
  const ids = new Map(snapshot.services.map((s) => [s.name, s.id]));
  // a service matched by id may be renamed: its steps carry the file's name
  for (const step of steps) if (step.kind === "update-service") ids.set(step.service, step.id);
  const gid = encodeURIComponent(snapshot.group.id);
  const sid = (name: string) => encodeURIComponent(ids.get(name)!);
  for (const step of steps) {
    switch (step.kind) {
      case "delete-service": {
        const id = encodeURIComponent(step.id);
        if (step.published) await client.request("DELETE", `/api/gateway_groups/${gid}/services/${id}`);
        await client.request("DELETE", `/api/services/${id}`);
        break;
      }
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
      case "create-ssl":
        await client.request("POST", `/api/gateway_groups/${gid}/ssls`, clean(step.body));
        break;
      case "update-ssl":
        await client.request("PUT", `/api/gateway_groups/${gid}/ssls/${encodeURIComponent(step.id)}`, clean(step.body));
        break;
      case "delete-ssl":
        await client.request("DELETE", `/api/gateway_groups/${gid}/ssls/${encodeURIComponent(step.id)}`);
        break;
      case "set-global-rules":
        await client.request("PUT", `/api/gateway_groups/${gid}/global_rules`, step.body);
        break;
      case "set-plugin-metadata":
        await client.request("PUT", `/api/gateway_groups/${gid}/plugin_metadata`, step.body);
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

function normaliseSsl(field: string, v: unknown): unknown {
  if (field === "cert" && typeof v === "string") return v.trim();
  if (field === "certs" && Array.isArray(v))
    return emptyToUndefined(v.length === 0 ? undefined : v.map((c) => String(c).trim()));
  if (field === "ssl_protocols" && v === undefined) return ["TLSv1.2", "TLSv1.3"];
  return emptyToUndefined(v);
}

/** is the group running this service as the file says (runtime-upstream nodes aside)? */
function publishedMatches(s: DeclarativeService, p: PublishedService): boolean {
  // the group runs the compiled form (`scheme: tls` is tcp with `tls`), so compare the file's compiled
  const { nodes: _a, ...want } = compileUpstream(s.upstream) as unknown as Json;
  const { nodes: _b, ...have } = p.upstream as unknown as Json;
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
