/**
 * `sluice dump`: a control plane's stream services, the group's certificates, global rules and plugin
 * metadata as an ADC file that ADC's own schema accepts and `sluice apply` reads back unchanged.
 *
 * ADC's schema is strict everywhere but in plugin maps, so Sluice's settings it has no field for (UDP
 * checks, passive-only checks, PROXY protocol, `timeout.fin`, upstream `tls.ca`/`tls.sni`, a route's
 * `tls` and `proxy_protocol`) are written under the `x-sluice` key of the service's or route's
 * `plugins`, which `apply` merges back. Private keys are never shown: a certificate's key is written as
 * a reference to the stored one, which `apply` accepts as "unchanged".
 */
import { stringify } from "yaml";
import { ADC_EXTENSION_KEY, STORED_KEY_REFERENCE } from "../compat/adc-fields.ts";
import type { Managed } from "./adc-input.ts";
import type { RemoteService, RemoteSsl, Snapshot } from "./apply-plan.ts";

type Json = Record<string, unknown>;

const routeKeys = ["server_addr", "server_port", "remote_addr", "sni"] as const;
const allKinds: Managed = { services: true, ssls: true, global_rules: true, plugin_metadata: true };

export function dumpSnapshot(
  snapshot: Pick<Snapshot, "services"> & Partial<Pick<Snapshot, "ssls" | "group">>,
  kinds: Managed = allKinds,
): string {
  const out: Json = {};
  if (kinds.services) out.services = [...snapshot.services].sort(byName).map((s) => serviceEntry(s));
  if (kinds.ssls && snapshot.ssls && snapshot.ssls.length > 0) out.ssls = snapshot.ssls.map(sslEntry);
  if (kinds.global_rules && nonEmpty(snapshot.group?.global_rules)) out.global_rules = snapshot.group!.global_rules;
  if (kinds.plugin_metadata && nonEmpty(snapshot.group?.plugin_metadata))
    out.plugin_metadata = snapshot.group!.plugin_metadata;
  return stringify(out, { lineWidth: 0 });
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  return !(typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function serviceEntry(s: RemoteService): Json {
  const out: Json = { id: s.id, name: s.name };
  if (nonEmpty(s.desc)) out.description = s.desc;
  if (nonEmpty(s.labels)) out.labels = s.labels;
  const { upstream, extension } = adcUpstream(isObject(s.upstream) ? s.upstream : {});
  out.upstream = upstream;
  if (Array.isArray(s.upstreams) && s.upstreams.length > 0) {
    // ADC has no place for Sluice's settings of a named upstream; they keep ADC's fields only
    out.upstreams = s.upstreams.map((u) => adcUpstream(u as Json).upstream);
  }
  const plugins: Json = { ...(isObject(s.plugins) ? s.plugins : {}) };
  if (nonEmpty(extension)) plugins[ADC_EXTENSION_KEY] = { upstream: extension };
  if (nonEmpty(plugins)) out.plugins = plugins;
  out.stream_routes = [...s.routes].sort(byName).map((r) => {
    const route: Json = { id: r.id, name: r.name };
    if (nonEmpty(r.desc)) route.description = r.desc;
    if (nonEmpty(r.labels)) route.labels = r.labels;
    for (const k of routeKeys) if (nonEmpty(r[k])) route[k] = r[k];
    const routePlugins: Json = { ...(isObject(r.plugins) ? r.plugins : {}) };
    const routeExtension: Json = {};
    if (r.tls !== undefined) routeExtension.tls = r.tls;
    if (r.proxy_protocol !== undefined) routeExtension.proxy_protocol = r.proxy_protocol;
    if (nonEmpty(routeExtension)) routePlugins[ADC_EXTENSION_KEY] = routeExtension;
    if (nonEmpty(routePlugins)) route.plugins = routePlugins;
    return route;
  });
  return out;
}

/** a Sluice upstream in ADC's fields, and what ADC's schema has no place for */
function adcUpstream(stored: Json): { upstream: Json; extension: Json } {
  const upstream: Json = { ...stored };
  const extension: Json = {};
  if (upstream.desc !== undefined) {
    upstream.description = upstream.desc;
    delete upstream.desc;
  }
  for (const k of ["udp", "proxy_protocol"]) {
    if (upstream[k] !== undefined) {
      extension[k] = upstream[k];
      delete upstream[k];
    }
  }
  if (isObject(upstream.timeout) && upstream.timeout.fin !== undefined) {
    const { fin, ...timeout } = upstream.timeout;
    upstream.timeout = timeout;
    extension.timeout = { fin };
  }
  if (isObject(upstream.tls)) {
    const { ca, sni, ...tls } = upstream.tls;
    const own = { ...(ca === undefined ? {} : { ca }), ...(sni === undefined ? {} : { sni }) };
    if (nonEmpty(own)) extension.tls = own;
    upstream.tls = tls;
    if (!nonEmpty(tls)) delete upstream.tls;
  }
  if (upstream.checks !== undefined && !adcTakesChecks(upstream.checks)) {
    extension.checks = upstream.checks;
    delete upstream.checks;
  }
  return { upstream, extension };
}

/**
 * ADC's checks: `active` is required (passive only with it), its types are http/https/tcp, and the
 * passive counters start at 1 (Sluice's start at 0).
 */
function adcTakesChecks(checks: unknown): boolean {
  if (!isObject(checks) || !isObject(checks.active)) return false;
  const { active, passive } = checks;
  if (active.type === "udp" || active.udp !== undefined) return false;
  if (passive === undefined) return true;
  if (!isObject(passive) || passive.type === "udp") return false;
  const counters = [passive.healthy, passive.unhealthy].flatMap((part) =>
    isObject(part) ? [part.successes, part.tcp_failures, part.timeouts, part.http_failures] : [],
  );
  return counters.every((n) => n === undefined || (typeof n === "number" && n >= 1));
}

function sslEntry(ssl: RemoteSsl): Json {
  const out: Json = { id: ssl.id };
  if (nonEmpty(ssl.labels)) out.labels = ssl.labels;
  out.type = "server";
  out.snis = ssl.snis;
  const certs = Array.isArray(ssl.certs) ? (ssl.certs as string[]) : [];
  out.certificates = [ssl.cert, ...certs].map((certificate, i) => ({
    certificate,
    key: `${STORED_KEY_REFERENCE}${ssl.id}${i === 0 ? "" : `/${i}`}`,
  }));
  if (isObject(ssl.client)) out.client = { ca: ssl.client.ca, depth: ssl.client.depth };
  if (Array.isArray(ssl.ssl_protocols)) out.ssl_protocols = ssl.ssl_protocols;
  return out;
}
