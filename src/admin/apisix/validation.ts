/**
 * APISIX's rules for stream routes and upstreams, answered with APISIX's `error_msg` texts where a
 * client might match them (apisix/admin/resource.lua, apisix/schema_def.lua, apisix/admin/upstreams.lua),
 * and the mirror of a stream route as a Sluice service, checked with the data plane's own schemas.
 */
import { describeIssue } from "../../config/issues.ts";
import { checkPluginConfig } from "../../config/plugin-config.ts";
import { streamRouteFields, upstream as upstreamSchema } from "../../config/schema.ts";
import { streamPlugins } from "../../proxy/plugins/index.ts";
import type { ApisixValue, StreamRouteMirror } from "../../store/apisix-objects.ts";
import { RequestError } from "../request.ts";

export const invalid = (message: string) => new RequestError(400, `invalid configuration: ${message}`);

/** apisix/schema_def.lua `id_schema`: a string of 1–64 `[a-zA-Z0-9-_.]`, or an integer ≥ 1 */
export function checkId(id: unknown): void {
  const ok =
    (typeof id === "string" && /^[a-zA-Z0-9-_.]{1,64}$/.test(id)) ||
    (typeof id === "number" && Number.isInteger(id) && id >= 1);
  if (!ok) throw invalid('property "id" validation failed: object matches none of the required');
}

/** the fields APISIX's schemas define; any other is refused as APISIX refuses it */
const upstreamFields = new Set([
  "id",
  "name",
  "desc",
  "labels",
  "type",
  "nodes",
  "service_name",
  "discovery_type",
  "discovery_args",
  "hash_on",
  "key",
  "checks",
  "retries",
  "retry_timeout",
  "timeout",
  "scheme",
  "tls",
  "keepalive_pool",
  "pass_host",
  "upstream_host",
  "create_time",
  "update_time",
]);
const streamRouteFieldNames = new Set([
  "id",
  "name",
  "desc",
  "labels",
  "remote_addr",
  "server_addr",
  "server_port",
  "sni",
  "upstream",
  "upstream_id",
  "service_id",
  "plugins",
  "protocol",
  "create_time",
  "update_time",
]);

/** what Sluice reads of an upstream; the rest (labels, HTTP-only fields) is kept in the stored object only */
const runFields = ["scheme", "type", "hash_on", "key", "nodes", "retries", "retry_timeout", "timeout", "checks", "tls"];

export function luaType(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return "table";
  return typeof v;
}

export function checkFields(value: ApisixValue, allowed: ReadonlySet<string>): void {
  const extra = Object.keys(value).filter((k) => !allowed.has(k));
  if (extra.length > 0) throw invalid(`additional properties forbidden, found ${extra[0]}`);
}

export function checkLabels(value: ApisixValue): void {
  if (value.labels === undefined) return;
  if (luaType(value.labels) !== "table" || Array.isArray(value.labels)) {
    throw invalid(`property "labels" validation failed: wrong type: expected object, got ${luaType(value.labels)}`);
  }
  for (const [k, v] of Object.entries(value.labels as Record<string, unknown>)) {
    if (typeof v !== "string") {
      throw invalid(
        `property "labels" validation failed: failed to validate ${k} (matching ".*"): wrong type: expected string, got ${luaType(v)}`,
      );
    }
  }
}

/** `expected -1 to be at least 0`, as lua-resty-jsonschema words a minimum */
function atLeast(path: string, v: unknown, min: number, integer = false): void {
  if (v === undefined) return;
  if (typeof v !== "number" || (integer && !Number.isInteger(v))) {
    throw invalid(
      `${path} validation failed: wrong type: expected ${integer ? "integer" : "number"}, got ${luaType(v)}`,
    );
  }
  if (v < min) throw invalid(`${path} validation failed: expected ${v} to be at least ${min}`);
}

function validNodes(nodes: unknown): boolean {
  const weightOk = (w: unknown) => typeof w === "number" && Number.isInteger(w) && w >= 0;
  if (Array.isArray(nodes)) {
    return nodes.every((n: ApisixValue) => typeof n === "object" && n !== null && weightOk(n.weight ?? 0));
  }
  if (typeof nodes !== "object" || nodes === null) return false;
  return Object.values(nodes).every(weightOk);
}

/** APISIX's upstream checks, then the data plane's (`nodes` normalised, brackets around IPv6 removed) */
export function checkUpstream(value: ApisixValue): void {
  checkFields(value, upstreamFields);
  if (value.id !== undefined) checkId(value.id);
  checkLabels(value);
  if (value.service_name !== undefined || value.discovery_type !== undefined) {
    throw new RequestError(
      400,
      "service discovery (discovery_type, service_name) is not supported: Sluice has no registry client; list the nodes",
    );
  }
  if (value.nodes === undefined) throw invalid('property "nodes" is required');
  if (!validNodes(value.nodes))
    throw invalid('property "nodes" validation failed: object matches none of the required');
  const timeout = value.timeout;
  if (timeout !== undefined && typeof timeout === "object" && timeout !== null) {
    for (const part of ["connect", "send", "read"]) {
      const v = (timeout as ApisixValue)[part];
      if (typeof v === "number" && v <= 0) {
        throw invalid(
          `property "timeout" validation failed: property "${part}" validation failed: expected ${v} to be greater than 0`,
        );
      }
    }
  }
  atLeast('property "retries"', value.retries, 0, true);
  atLeast('property "retry_timeout"', value.retry_timeout, 0);
  if (value.type === "chash" && value.hash_on !== "consumer" && value.key === undefined) {
    throw new RequestError(400, "missing key");
  }
  if (Array.isArray(value.nodes)) {
    for (const node of value.nodes as ApisixValue[]) {
      const host = String(node.host);
      if (host.includes(":") && !host.startsWith("[")) {
        throw invalid("IPv6 address must be enclosed with '[' and ']'");
      }
    }
  }
  sluiceUpstream(value);
}

/** the upstream as the data plane runs it */
function sluiceUpstream(value: ApisixValue) {
  const input: ApisixValue = {};
  for (const field of runFields) if (value[field] !== undefined) input[field] = value[field];
  if (Array.isArray(input.nodes)) {
    input.nodes = (input.nodes as ApisixValue[]).map((n) => ({
      ...n,
      host: String(n.host).replace(/^\[(.*)\]$/, "$1"),
    }));
  }
  const parsed = upstreamSchema.safeParse(input);
  if (!parsed.success) throw invalid(describeIssue(parsed.error.issues[0]!));
  return parsed.data;
}

function checkPlugins(plugins: unknown): void {
  if (plugins === undefined) return;
  if (typeof plugins !== "object" || plugins === null || Array.isArray(plugins)) {
    throw invalid(`property "plugins" validation failed: wrong type: expected object, got ${luaType(plugins)}`);
  }
  for (const [name, conf] of Object.entries(plugins)) {
    if (!streamPlugins.has(name)) throw new RequestError(400, `unknown plugin [${name}]`);
    const checked = checkPluginConfig(name, conf, streamPlugins, []);
    if (!checked.ok) {
      const problem = checked.problems[0]!;
      const detail = problem.kind === "rule" ? `${problem.path.map(String).join(".")}: ${problem.rule}` : problem.kind;
      throw new RequestError(400, `failed to check the configuration of stream plugin [${name}] err: ${detail}`);
    }
  }
}

/** APISIX's stream route checks, then what Sluice needs: a `server_port` and an upstream */
export function checkStreamRoute(value: ApisixValue): void {
  checkFields(value, streamRouteFieldNames);
  if (value.id !== undefined) checkId(value.id);
  checkLabels(value);
  checkPlugins(value.plugins);
  if (value.upstream_id !== undefined) checkId(value.upstream_id);
  if (value.service_id !== undefined) {
    throw new RequestError(
      400,
      "service_id is not supported on a stream route: Sluice serves APISIX stream routes with an inline upstream or an upstream_id",
    );
  }
  if (value.protocol !== undefined) {
    throw new RequestError(400, "protocol (xRPC) is not supported: Sluice proxies stream routes at L4 only");
  }
  if (value.server_port === undefined) {
    throw invalid(
      'property "server_port" is required: Sluice opens a listener for each stream route\'s server_port (APISIX matches a route without one on every port of its static stream_proxy list)',
    );
  }
  if (value.upstream === undefined && value.upstream_id === undefined) {
    throw new RequestError(400, "missing upstream: a stream route needs an inline upstream or an upstream_id");
  }
  if (value.upstream !== undefined) {
    if (typeof value.upstream !== "object" || value.upstream === null) {
      throw invalid(
        `property "upstream" validation failed: wrong type: expected object, got ${luaType(value.upstream)}`,
      );
    }
    checkUpstream(value.upstream as ApisixValue);
  }
}

/** the stream route as Sluice runs it: a service holding its upstream and the one route */
export function mirrorStreamRoute(route: ApisixValue, storedUpstream: ApisixValue | undefined): StreamRouteMirror {
  const up = (route.upstream as ApisixValue | undefined) ?? storedUpstream;
  if (!up) throw new RequestError(400, "missing upstream: a stream route needs an inline upstream or an upstream_id");
  const fields: ApisixValue = { name: route.name ?? `stream_route ${String(route.id)}` };
  for (const key of ["desc", "labels", "server_addr", "server_port", "remote_addr", "sni", "plugins"]) {
    if (route[key] !== undefined) fields[key] = route[key];
  }
  const parsed = streamRouteFields.safeParse(fields);
  if (!parsed.success) throw invalid(describeIssue(parsed.error.issues[0]!));
  const checked = parsed.data;
  if (checked.plugins !== undefined) {
    const plugins: Record<string, Record<string, unknown>> = {};
    for (const [name, conf] of Object.entries(checked.plugins)) {
      const one = checkPluginConfig(name, conf, streamPlugins, []);
      if (one.ok) plugins[name] = one.value;
    }
    checked.plugins = plugins;
  }
  return { service: { upstream: sluiceUpstream(up) }, route: checked };
}
