/**
 * The declarative file: the stream subset of API7's ADC format, so one file works with `adc sync`
 * against API7 and with `sluice apply` / `sluice gateway --config`:
 *
 *   services:
 *     - name: mysql
 *       description: …
 *       labels: { team: db }
 *       upstream: { scheme: tcp, type: roundrobin, nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }] }
 *       plugins: { … }
 *       stream_routes:
 *         - { name: mysql-route, server_port: 9101, remote_addr: 127.0.0.1 }
 *
 * Field rules are the admin API's (src/config/schema.ts and each plugin's schema), so a file that
 * validates here is accepted by the control plane. ADC's `description` is Sluice's `desc`.
 */
import { parseDocument } from "yaml";
import { z } from "zod";
import { fileMessage, problemsOf } from "../config/issues.ts";
import { checkPlugins as checkPluginMap } from "../config/plugin-config.ts";
import { findUnservedRoute, type TerminatingRoute } from "../config/route-certificates.ts";
import {
  findProxyProtocolDisagreement,
  type MatchableRoute,
  matchKey,
  proxyProtocolDisagreement,
} from "../config/route-clash.ts";
import { labels, pluginMap, streamRouteFields, transportOf, upstream } from "../config/schema.ts";
import { streamPlugins } from "../proxy/plugins/index.ts";

const description = z.string().max(256);

export const declarativeRoute = streamRouteFields.omit({ desc: true }).extend({
  description: description.optional(),
});
export type DeclarativeRoute = z.output<typeof declarativeRoute>;

export const declarativeService = z.strictObject({
  name: z.string().min(1).max(256),
  description: description.optional(),
  labels: labels.optional(),
  upstream,
  plugins: pluginMap.optional(),
  stream_routes: z.array(declarativeRoute).default([]),
});
export type DeclarativeService = z.output<typeof declarativeService>;

/** ADC top-level keys Sluice does not manage: named in the error so a user knows why */
const httpOnlyKeys = ["routes", "consumers", "ssls", "global_rules", "plugin_configs", "plugin_metadata", "upstreams"];

export const declarativeFile = z.strictObject({
  services: z.array(declarativeService).default([]),
});
export type DeclarativeFile = z.output<typeof declarativeFile>;

export class DeclarativeError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "DeclarativeError";
  }
}

/** Parses and validates YAML (or JSON) text; throws `DeclarativeError` listing every problem with its path. */
export function parseDeclarative(text: string, source = "file"): DeclarativeFile {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new DeclarativeError(doc.errors.map((e) => `${source}: ${e.message.split("\n")[0]}`));
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  const problems: string[] = [];
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    const top = raw as Record<string, unknown>;
    for (const key of httpOnlyKeys) {
      if (key in top) problems.push(`${key}: not supported by Sluice (stream services only)`);
    }
    // ADC files may carry these; they describe the file, not the gateway
    delete top.version;
    delete top._meta;
    for (const key of httpOnlyKeys) delete top[key];
    for (const [i, s] of (Array.isArray(top.services) ? top.services : []).entries()) {
      if (s && typeof s === "object" && "routes" in s) {
        problems.push(`services[${i}].routes: HTTP routes are not supported by Sluice (use stream_routes)`);
        delete (s as Record<string, unknown>).routes;
      }
    }
  }
  const parsed = declarativeFile.safeParse(raw);
  if (!parsed.success) {
    problems.push(...problemsOf(parsed.error).map(fileMessage));
    throw new DeclarativeError(problems);
  }
  problems.push(...checkPlugins(parsed.data), ...checkUnique(parsed.data));
  if (problems.length > 0) throw new DeclarativeError(problems);
  return parsed.data;
}

/** each plugin config is validated (and defaults filled, in place) by that plugin's own schema */
function checkPlugins(file: DeclarativeFile): string[] {
  const problems: string[] = [];
  const check = (plugins: Record<string, Record<string, unknown>> | undefined, at: PropertyKey[]) => {
    if (!plugins) return;
    const checked = checkPluginMap(plugins, streamPlugins, [...at, "plugins"]);
    if (checked.ok) Object.assign(plugins, checked.value);
    else problems.push(...checked.problems.map(fileMessage));
  };
  file.services.forEach((s, i) => {
    check(s.plugins, ["services", i]);
    s.stream_routes.forEach((r, j) => {
      check(r.plugins, ["services", i, "stream_routes", j]);
    });
  });
  return problems;
}

/** names identify things across applies, and two routes with the same match fields are ambiguous */
function checkUnique(file: DeclarativeFile): string[] {
  const problems: string[] = [];
  const services = new Map<string, number>();
  const matches = new Map<string, string>();
  const all: Array<MatchableRoute & TerminatingRoute> = [];
  file.services.forEach((s, i) => {
    if (services.has(s.name))
      problems.push(`services[${i}].name: "${s.name}" is used by services[${services.get(s.name)}]`);
    services.set(s.name, i);
    const routes = new Map<string, number>();
    s.stream_routes.forEach((r, j) => {
      const at = `services[${i}].stream_routes[${j}]`;
      if (routes.has(r.name)) problems.push(`${at}.name: "${r.name}" is used by stream_routes[${routes.get(r.name)}]`);
      routes.set(r.name, j);
      // the control plane's rule (src/config/route-clash.ts), so a file clashes exactly where a publish would
      const route = { ...r, id: at, serviceId: s.name, serviceName: s.name, scheme: transportOf(s.upstream.scheme) };
      all.push(route);
      const key = matchKey(route);
      const other = matches.get(key);
      if (other) problems.push(`${at}: same match fields (server_addr, server_port, remote_addr, sni) as ${other}`);
      else matches.set(key, `${s.name}/${r.name}`);
    });
  });
  // the control plane's publish rules, with the file's own way of naming a route; a file holds no
  // certificates, so a terminating route has none to serve
  const unserved = findUnservedRoute(all, []);
  if (unserved) {
    problems.push(
      `${unserved.route.id}.tls: terminates TLS for ${unserved.name}, but a declarative file has no certificates (use a control plane's /api/gateway_groups/:gid/ssls)`,
    );
  }
  const disagreement = findProxyProtocolDisagreement(all);
  if (disagreement) {
    problems.push(
      `${disagreement[1].id}.proxy_protocol: ${proxyProtocolDisagreement(disagreement, (r) => `${r.id} ("${r.serviceName}/${r.name}")`)}`,
    );
  }
  return problems;
}
