/**
 * An ADC document as `adc sync` would read it, turned into the shape Sluice's file schema checks:
 * ADC's number coercions, `description` on upstreams, the legacy Go ADC layout (top-level
 * `stream_routes` with `service_id`), the `x-sluice` extension merged back, and the resource-type
 * filters. What Sluice cannot do is a problem naming the feature and why; fields that have no effect on
 * a stream become notes (`apply` prints them), never silently dropped.
 */
import {
  ADC_EXTENSION_KEY,
  type AdcResourceType,
  adcNumberPaths,
  coerceNumbers,
  httpOnlyResources,
  noEffectPluginFields,
  noEffectUpstreamFields,
  schemesRunAsTcp,
} from "../compat/adc-fields.ts";

type Json = Record<string, unknown>;

/** ADC's `--include-resource-type` / `--exclude-resource-type` */
export interface ResourceFilter {
  include?: readonly AdcResourceType[];
  exclude?: readonly AdcResourceType[];
}

/** which of the group's objects a file is the whole truth for (the others are left as they are) */
export interface Managed {
  services: boolean;
  ssls: boolean;
  global_rules: boolean;
  plugin_metadata: boolean;
}

/** Sluice keeps stream routes and upstreams inside their service, so naming them names the service */
const partOfService: ReadonlySet<AdcResourceType> = new Set(["service", "stream_route", "upstream"]);

export function typeEnabled(filter: ResourceFilter, type: AdcResourceType): boolean {
  const matches = (list: readonly AdcResourceType[]) =>
    list.includes(type) || (partOfService.has(type) && list.some((t) => partOfService.has(t)));
  if (filter.include && filter.include.length > 0 && !matches(filter.include)) return false;
  return !(filter.exclude ?? []).some((t) => t === type || (partOfService.has(type) && t === "service"));
}

export function managedBy(filter: ResourceFilter): Managed {
  return {
    services: typeEnabled(filter, "service"),
    ssls: typeEnabled(filter, "ssl"),
    global_rules: typeEnabled(filter, "global_rule"),
    plugin_metadata: typeEnabled(filter, "plugin_metadata"),
  };
}

export interface AdcInput {
  document: unknown;
  problems: string[];
  notes: string[];
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const NO_EFFECT = "no effect on stream services";

export function readAdcDocument(raw: unknown, filter: ResourceFilter = {}): AdcInput {
  const problems: string[] = [];
  const notes: string[] = [];
  if (!isObject(raw)) return { document: raw, problems, notes };
  const top: Json = { ...raw };
  // they describe the file, not the gateway (the legacy Go ADC wrote name and version)
  delete top.version;
  delete top.name;
  delete top._meta;
  const services = Array.isArray(top.services) ? (top.services as unknown[]) : undefined;
  if (top.stream_routes !== undefined) attachLegacyRoutes(top, services, problems);

  for (const [key, { type, why }] of Object.entries(httpOnlyResources)) {
    if (top[key] === undefined) continue;
    if (typeEnabled(filter, type)) {
      problems.push(
        `${key}: not supported by Sluice, an L4 gateway (${why}); skip them with --exclude-resource-type ${type}`,
      );
    }
    delete top[key];
  }
  const skip = (key: string, type: AdcResourceType) => {
    if (!typeEnabled(filter, type)) delete top[key];
  };
  skip("services", "service");
  skip("ssls", "ssl");
  skip("global_rules", "global_rule");
  skip("plugin_metadata", "plugin_metadata");

  if (Array.isArray(top.ssls)) {
    for (const ssl of top.ssls) coerceNumbers(ssl, adcNumberPaths.ssl);
  }
  if (isObject(top.global_rules)) pluginNotes(top.global_rules, "global_rules", notes);
  if (Array.isArray(top.services)) {
    const kept: unknown[] = [];
    top.services.forEach((s: unknown, i: number) => {
      const service = readService(s, `services[${i}]`, filter, problems, notes);
      if (service !== undefined) kept.push(service);
    });
    top.services = kept;
  }
  return { document: top, problems, notes };
}

/** the Go ADC's layout: `stream_routes` beside `services`, each naming its service by id or name */
function attachLegacyRoutes(top: Json, services: unknown[] | undefined, problems: string[]): void {
  const routes = top.stream_routes;
  delete top.stream_routes;
  if (!Array.isArray(routes)) {
    problems.push("stream_routes: must be a list (or put stream routes under their service)");
    return;
  }
  routes.forEach((r: unknown, i: number) => {
    if (!isObject(r)) return;
    const { service_id: ref, ...route } = r;
    const service = (services ?? []).find(
      (s): s is Json => isObject(s) && ref !== undefined && (s.id === ref || s.name === ref),
    );
    if (!service) {
      problems.push(`stream_routes[${i}].service_id: no service "${String(ref)}" in the file`);
      return;
    }
    if (route.name === undefined && route.id !== undefined) route.name = String(route.id);
    if (route.id !== undefined) route.id = String(route.id);
    service.stream_routes = [...(Array.isArray(service.stream_routes) ? service.stream_routes : []), route];
  });
}

function readService(
  raw: unknown,
  at: string,
  filter: ResourceFilter,
  problems: string[],
  notes: string[],
): Json | undefined {
  if (!isObject(raw)) return raw as Json;
  const service: Json = { ...raw };
  if (service.routes !== undefined) {
    if (typeEnabled(filter, "route")) {
      problems.push(
        `${at}.routes: HTTP routes are not supported by Sluice, an L4 gateway (use stream_routes); skip them with --exclude-resource-type route`,
      );
    }
    delete service.routes;
    // with its HTTP routes skipped, an HTTP service has nothing left for Sluice
    if (service.stream_routes === undefined) return undefined;
  }
  const plugins = isObject(service.plugins) ? { ...service.plugins } : undefined;
  if (plugins && isObject(plugins[ADC_EXTENSION_KEY])) {
    const extension = plugins[ADC_EXTENSION_KEY] as Json;
    delete plugins[ADC_EXTENSION_KEY];
    service.plugins = plugins;
    if (isObject(extension.upstream) && isObject(service.upstream)) {
      service.upstream = deepMerge(service.upstream, extension.upstream);
    }
  }
  if (service.upstream === undefined) {
    problems.push(
      `${at}.upstream: required: an ADC stream route has no upstream of its own, so the service's connections would have nowhere to go`,
    );
    return undefined;
  }
  service.upstream = readUpstream(service.upstream, `${at}.upstream`, true, problems, notes);
  if (Array.isArray(service.upstreams)) {
    service.upstreams = service.upstreams.map((u: unknown, j: number) =>
      readUpstream(u, `${at}.upstreams[${j}]`, false, problems, notes),
    );
    notes.push(
      `${at}.upstreams: ${NO_EFFECT} (kept and dumped back: an ADC stream route has no upstream_id and no stream plugin picks one)`,
    );
  }
  if (isObject(service.plugins)) pluginNotes(service.plugins, `${at}.plugins`, notes);
  if (Array.isArray(service.stream_routes)) {
    const routes: unknown[] = [];
    service.stream_routes.forEach((r: unknown, j: number) => {
      const route = readRoute(r, `${at}.stream_routes[${j}]`, problems, notes);
      if (route !== undefined) routes.push(route);
    });
    service.stream_routes = routes;
  }
  return service;
}

function readUpstream(raw: unknown, at: string, single: boolean, problems: string[], notes: string[]): unknown {
  if (!isObject(raw)) return raw;
  const u: Json = { ...raw };
  if (u.description !== undefined) {
    u.desc = u.description;
    delete u.description;
  }
  // the legacy Go ADC dumped an inline upstream's APISIX id; an inline upstream has no identity of its own
  if (single) delete u.id;
  const discovery = ["discovery_type", "service_name", "discovery_args"].filter((k) => u[k] !== undefined);
  if (discovery.length > 0) {
    problems.push(
      `${at}.${discovery[0]}: service discovery is not supported: Sluice has no registry client; list the nodes (or set them at run time through the runtime upstream API)`,
    );
    for (const k of discovery) delete u[k];
    if (u.nodes === undefined) u.nodes = [];
  }
  if (typeof u.scheme === "string" && (schemesRunAsTcp as readonly string[]).includes(u.scheme)) {
    notes.push(`${at}.scheme: ${u.scheme}: ${NO_EFFECT} (runs as tcp, as APISIX's stream proxy does)`);
    u.scheme = "tcp";
  }
  coerceNumbers(u, adcNumberPaths.upstream);
  for (const [path, why] of noEffectUpstreamFields) {
    if (valueAt(u, path) !== undefined) notes.push(`${at}.${path}: ${NO_EFFECT} (${why})`);
  }
  return u;
}

function readRoute(raw: unknown, at: string, problems: string[], notes: string[]): unknown {
  if (!isObject(raw)) return raw;
  const route: Json = { ...raw };
  coerceNumbers(route, adcNumberPaths.streamRoute);
  if (isObject(route.plugins) && isObject(route.plugins[ADC_EXTENSION_KEY])) {
    const { [ADC_EXTENSION_KEY]: extension, ...plugins } = route.plugins;
    route.plugins = plugins;
    Object.assign(route, extension);
  }
  if (route.server_port === undefined) {
    problems.push(
      `${at}.server_port: required: Sluice opens a listener for each stream route's port (APISIX takes its ports from the static stream_proxy list instead)`,
    );
    return undefined;
  }
  if (isObject(route.plugins)) pluginNotes(route.plugins, `${at}.plugins`, notes);
  return route;
}

function pluginNotes(plugins: Json, at: string, notes: string[]): void {
  for (const [plugin, field, why] of noEffectPluginFields) {
    const conf = plugins[plugin];
    if (isObject(conf) && conf[field] !== undefined) notes.push(`${at}.${plugin}.${field}: ${NO_EFFECT} (${why})`);
  }
}

function valueAt(node: unknown, path: string): unknown {
  let current = node;
  for (const part of path.split(".")) {
    if (!isObject(current)) return undefined;
    current = current[part];
  }
  return current;
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}
