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
 * validates here is accepted by the control plane. ADC's `description` is Sluice's `desc`. The ADC
 * reading itself (coercions, legacy layout, refusals, notes) is in adc-input.ts.
 */
import { parseDocument } from "yaml";
import { z } from "zod";
import { holdsClientKey, namedUpstreamKeyRefusal, STORED_KEY_REFERENCE } from "../compat/adc-fields.ts";
import { CertificateError, checkSslCertificates, uncoveredSni } from "../config/certificate.ts";
import { fileMessage, problemsOf } from "../config/issues.ts";
import { checkPluginMetadata as checkMetadata, checkPlugins as checkPluginMap } from "../config/plugin-config.ts";
import { findUnservedRoute, type TerminatingRoute } from "../config/route-certificates.ts";
import {
  findProxyProtocolDisagreement,
  type MatchableRoute,
  matchKey,
  proxyProtocolDisagreement,
} from "../config/route-clash.ts";
import {
  labels,
  pluginMap,
  type SslFields,
  sniHost,
  streamRouteFields,
  tlsProtocol,
  transportOf,
  upstream,
} from "../config/schema.ts";
import { streamPlugins } from "../proxy/plugins/index.ts";
import { type Managed, managedBy, type ResourceFilter, readAdcDocument } from "./adc-input.ts";

const description = z.string().max(256);
/** ADC's id rule (its `idSchema`) */
const adcId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[a-zA-Z0-9-_.]+$/, { message: "must be letters, digits, '-', '_' and '.'" });

export const declarativeRoute = streamRouteFields.omit({ desc: true }).extend({
  id: adcId.optional(),
  description: description.optional(),
});
export type DeclarativeRoute = z.output<typeof declarativeRoute>;

export const declarativeService = z.strictObject({
  id: adcId.optional(),
  name: z.string().min(1).max(256),
  description: description.optional(),
  labels: labels.optional(),
  upstream,
  /** ADC's named upstreams: kept and dumped back; checked one by one with the upstream's rules */
  upstreams: z.array(z.record(z.string(), z.unknown())).optional(),
  plugins: pluginMap.optional(),
  stream_routes: z.array(declarativeRoute).default([]),
});
export type DeclarativeService = z.output<typeof declarativeService>;

/** ADC's SSL object; it becomes one of the gateway group's certificates */
export const declarativeSsl = z.strictObject({
  id: adcId.optional(),
  labels: labels.optional(),
  type: z
    .literal("server", { message: "must be 'server': client certificates to upstreams go in upstream tls" })
    .optional(),
  snis: z.array(sniHost).min(1),
  certificates: z.array(z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) })).min(1),
  client: z.strictObject({ ca: z.string().min(1), depth: z.number().int().min(0).max(9).default(1) }).optional(),
  ssl_protocols: z.array(tlsProtocol).min(1).optional(),
});
export type DeclarativeSsl = z.output<typeof declarativeSsl>;

export const declarativeFile = z.strictObject({
  services: z.array(declarativeService).default([]),
  ssls: z.array(declarativeSsl).default([]),
  /** plugins for every stream route of the group; a service's or route's own config of a plugin wins */
  global_rules: pluginMap.optional(),
  /** per-plugin metadata (syslog's `log_format`), carried to the gateways as written */
  plugin_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});

export type DeclarativeFile = z.output<typeof declarativeFile> & {
  /** the kinds of objects the file is the whole truth for (ADC's resource-type filters) */
  managed: Managed;
  /** fields kept that have no effect on a stream, one line each */
  notes: string[];
};

export class DeclarativeError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "DeclarativeError";
  }
}

/** Parses and validates YAML (or JSON) text; throws `DeclarativeError` listing every problem with its path. */
export function parseDeclarative(text: string, source = "file", filter: ResourceFilter = {}): DeclarativeFile {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new DeclarativeError(doc.errors.map((e) => `${source}: ${e.message.split("\n")[0]}`));
  }
  const adc = readAdcDocument(doc.toJS() ?? {}, filter);
  const problems = [...adc.problems];
  const parsed = declarativeFile.safeParse(adc.document);
  if (!parsed.success) {
    problems.push(...problemsOf(parsed.error).map(fileMessage));
    throw new DeclarativeError(problems);
  }
  const file: DeclarativeFile = { ...parsed.data, managed: managedBy(filter), notes: adc.notes };
  problems.push(
    ...checkPlugins(file),
    ...checkPluginMetadata(file),
    ...checkUpstreams(file),
    ...checkSsls(file),
    ...checkUnique(file),
  );
  if (problems.length > 0) throw new DeclarativeError(problems);
  return file;
}

/** metadata goes to the plugins that read it (syslog's log_format), checked against their own schema */
function checkPluginMetadata(file: DeclarativeFile): string[] {
  const checked = checkMetadata(file.plugin_metadata ?? {}, streamPlugins);
  if (checked.ok) return [];
  return checked.problems.map((problem) =>
    problem.kind === "unknown-plugin"
      ? `plugin_metadata.${problem.name}: unknown plugin [${problem.name}] (not a stream plugin); skip plugin_metadata with --exclude-resource-type plugin_metadata`
      : fileMessage(problem),
  );
}

/** ADC's SSL object as Sluice's (`cert`/`key` first, the other pairs in `certs`/`keys`) */
export function sslFieldsOf(ssl: DeclarativeSsl): SslFields {
  const [first, ...rest] = ssl.certificates;
  const out: SslFields = { snis: ssl.snis, cert: first!.certificate, key: first!.key };
  if (rest.length > 0) {
    out.certs = rest.map((c) => c.certificate);
    out.keys = rest.map((c) => c.key);
  }
  if (ssl.client) out.client = { ca: ssl.client.ca, depth: ssl.client.depth };
  if (ssl.ssl_protocols) out.ssl_protocols = ssl.ssl_protocols;
  if (ssl.labels) out.labels = ssl.labels;
  return out;
}

/** a key `sluice dump` wrote in place of a stored private key it never shows */
export function isStoredKeyReference(key: string): boolean {
  return key.startsWith(STORED_KEY_REFERENCE);
}

function checkSsls(file: DeclarativeFile): string[] {
  const problems: string[] = [];
  file.ssls.forEach((ssl, i) => {
    const at = `ssls[${i}]`;
    const refs = ssl.certificates.filter((c) => isStoredKeyReference(c.key)).length;
    if (refs > 0) {
      // a dump's reference to a key the control plane holds: apply matches it to that certificate
      if (refs !== ssl.certificates.length) problems.push(`${at}.certificates: give every key, or none as a reference`);
      return;
    }
    const secret = ssl.certificates.findIndex(
      (c) => /^\$(secret|env):\/\//.test(c.key) || /^\$(secret|env):\/\//.test(c.certificate),
    );
    if (secret >= 0) {
      problems.push(`${at}.certificates[${secret}]: secret references are not supported by Sluice: write the PEM text`);
      return;
    }
    const fields = sslFieldsOf(ssl);
    try {
      const infos = checkSslCertificates(fields);
      const missing = uncoveredSni(fields.snis, infos);
      if (missing !== undefined) problems.push(`${at}.snis: "${missing}" is not covered by the certificate's names`);
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      problems.push(`${at}.certificates: ${error.field}: ${error.reason}`);
    }
  });
  return problems;
}

/** ADC's named upstreams, each with the upstream's own rules (defaults filled, in place) */
function checkUpstreams(file: DeclarativeFile): string[] {
  const problems: string[] = [];
  file.services.forEach((s, i) => {
    s.upstreams?.forEach((u, j) => {
      const { id, name, ...rest } = u;
      const at = ["services", i, "upstreams", j];
      if (typeof name !== "string" || name === "") problems.push(`services[${i}].upstreams[${j}].name: required`);
      if (id !== undefined && !adcId.safeParse(id).success)
        problems.push(`services[${i}].upstreams[${j}].id: must be letters, digits, '-', '_' and '.'`);
      if (holdsClientKey(rest)) {
        problems.push(namedUpstreamKeyRefusal(`services[${i}].upstreams[${j}]`));
        return;
      }
      const parsed = upstream.safeParse(rest);
      if (!parsed.success) problems.push(...problemsOf(parsed.error, at).map(fileMessage));
      else s.upstreams![j] = { ...(id === undefined ? {} : { id }), name, ...parsed.data };
    });
  });
  return problems;
}

/** each plugin config is validated (and defaults filled, in place) by that plugin's own schema */
function checkPlugins(file: DeclarativeFile): string[] {
  const problems: string[] = [];
  const check = (plugins: Record<string, Record<string, unknown>> | undefined, at: PropertyKey[]) => {
    if (!plugins) return;
    const checked = checkPluginMap(plugins, streamPlugins, at[0] === "global_rules" ? at : [...at, "plugins"]);
    if (checked.ok) Object.assign(plugins, checked.value);
    else problems.push(...checked.problems.map(fileMessage));
  };
  check(file.global_rules, ["global_rules"]);
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
  // ADC ids name one object each: services among services, stream routes among all stream routes
  const ids = { service: new Map<string, string>(), route: new Map<string, string>() };
  const sameId = (kind: "service" | "route", id: string | undefined, at: string) => {
    if (id === undefined) return;
    const other = ids[kind].get(id);
    if (other) problems.push(`${at}.id: "${id}" is used by ${other}`);
    else ids[kind].set(id, at);
  };
  file.services.forEach((s, i) => {
    sameId("service", s.id, `services[${i}]`);
    s.stream_routes.forEach((r, j) => {
      sameId("route", r.id, `services[${i}].stream_routes[${j}]`);
    });
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
  // the control plane's publish rules, with the file's own way of naming a route; its certificates are
  // the file's ssls (apply adds them to the group before it publishes)
  const unserved = findUnservedRoute(
    all,
    file.ssls.map((ssl, i) => ({ id: `ssls[${i}]`, snis: ssl.snis.map((n) => n.toLowerCase()) })),
  );
  if (unserved) {
    problems.push(
      `${unserved.route.id}.tls: terminates TLS for ${unserved.name}, but no certificate in the file's ssls covers it`,
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
