/**
 * ADC's names and coercions (api7/adc `libs/sdk/src/core/schema.ts`), as tables: which strings ADC
 * turns into numbers, its resource types, which of its fields have no effect on a stream service, and
 * the key under which a dump keeps Sluice's own settings that ADC's schema has no place for.
 */

/** ADC's resource types, as its `--include-resource-type` / `--exclude-resource-type` take them */
export const adcResourceTypes = [
  "service",
  "stream_route",
  "upstream",
  "route",
  "ssl",
  "global_rule",
  "plugin_metadata",
  "consumer",
  "consumer_group",
] as const;
export type AdcResourceType = (typeof adcResourceTypes)[number];

/** top-level ADC resources that only HTTP traffic has, with the resource type that skips them */
export const httpOnlyResources = {
  consumers: { type: "consumer", why: "consumers authenticate HTTP requests" },
  consumer_groups: { type: "consumer_group", why: "consumer groups hold HTTP consumers' plugins" },
} as const satisfies Record<string, { type: AdcResourceType; why: string }>;

/**
 * Where ADC coerces a string to a number (`z.coerce.number()`), as paths inside an upstream, a stream
 * route and an SSL object; `*` is every element of an array.
 */
export const adcNumberPaths = {
  upstream: [
    "retries",
    "retry_timeout",
    "timeout.connect",
    "timeout.send",
    "timeout.read",
    "nodes.*.port",
    "nodes.*.weight",
    "nodes.*.priority",
    "checks.active.timeout",
    "checks.active.concurrency",
    "checks.active.port",
    "checks.active.healthy.interval",
    "checks.active.healthy.successes",
    "checks.active.healthy.http_statuses.*",
    "checks.active.unhealthy.interval",
    "checks.active.unhealthy.http_statuses.*",
    "checks.active.unhealthy.http_failures",
    "checks.active.unhealthy.tcp_failures",
    "checks.active.unhealthy.timeouts",
    "checks.passive.healthy.http_statuses.*",
    "checks.passive.healthy.successes",
    "checks.passive.unhealthy.http_statuses.*",
    "checks.passive.unhealthy.http_failures",
    "checks.passive.unhealthy.tcp_failures",
    "checks.passive.unhealthy.timeouts",
    "keepalive_pool.size",
    "keepalive_pool.idle_timeout",
    "keepalive_pool.requests",
  ],
  streamRoute: ["server_port"],
  ssl: ["client.depth"],
} as const;

/**
 * Upstream fields APISIX and ADC accept that mean nothing to a TCP/UDP stream: Sluice accepts and keeps
 * them as APISIX does, and `sluice apply` says so for each.
 */
export const noEffectUpstreamFields: ReadonlyArray<readonly [path: string, why: string]> = [
  ["keepalive_pool", "an HTTP connection-pool setting; each stream session has its own upstream connection"],
  ["pass_host", "it sets the HTTP Host header"],
  ["upstream_host", "it sets the HTTP Host header"],
  ["checks.active.http_path", "a tcp or udp check sends no HTTP request"],
  ["checks.active.https_verify_certificate", "a tcp or udp check sends no HTTP request"],
  ["checks.active.http_request_headers", "a tcp or udp check sends no HTTP request"],
  ["checks.active.healthy.http_statuses", "a stream has no HTTP status"],
  ["checks.active.unhealthy.http_statuses", "a stream has no HTTP status"],
  ["checks.active.unhealthy.http_failures", "a stream has no HTTP status"],
  ["checks.passive.healthy.http_statuses", "a stream has no HTTP status"],
  ["checks.passive.unhealthy.http_statuses", "a stream has no HTTP status"],
  ["checks.passive.unhealthy.http_failures", "a stream has no HTTP status"],
];

/** plugin fields APISIX's stream plugins accept and ignore */
export const noEffectPluginFields: ReadonlyArray<readonly [plugin: string, field: string, why: string]> = [
  ["ip-restriction", "message", "a refused stream connection is closed; there is no reply to carry it"],
  ["ip-restriction", "response_code", "a refused stream connection is closed; there is no reply to carry it"],
];

/** ADC upstream schemes a stream service runs as plain TCP, as APISIX's stream proxy does */
export const schemesRunAsTcp = ["http"] as const;

/**
 * The plugin-map key under which a file keeps Sluice's settings that ADC's strict schema has no field
 * for (UDP checks, PROXY protocol, TLS termination, …): plugins are the one place where ADC keeps
 * unknown fields. On a service it holds `{ upstream: {…} }`, merged over the upstream; on a stream route
 * `{ tls, proxy_protocol }`.
 */
export const ADC_EXTENSION_KEY = "x-sluice";

/** the prefix of the key reference `sluice dump` writes for a stored private key it cannot show */
export const STORED_KEY_REFERENCE = "$secret://sluice/ssls/";

/** does this (unchecked) upstream hold a TLS client key? */
export function holdsClientKey(upstream: Record<string, unknown>): boolean {
  const tls = upstream.tls;
  return typeof tls === "object" && tls !== null && (tls as Record<string, unknown>).client_key !== undefined;
}

/** why a named upstream (ADC's `upstreams[]`) may not hold a TLS client key */
export function namedUpstreamKeyRefusal(at: string): string {
  return `${at}.tls.client_key: not kept: a named upstream has no effect on a stream service, and private keys are kept only where they are used`;
}

/** turns numeric strings at `paths` into numbers, in place, as ADC's `z.coerce.number()` would */
export function coerceNumbers(target: unknown, paths: readonly string[]): void {
  for (const path of paths) coerceAt(target, path.split("."));
}

function coerceAt(node: unknown, parts: string[]): void {
  if (typeof node !== "object" || node === null) return;
  const [head, ...rest] = parts as [string, ...string[]];
  const container = node as Record<string, unknown>;
  const keys = head === "*" ? (Array.isArray(node) ? node.keys() : []) : [head];
  for (const key of keys) {
    const k = key as keyof typeof container;
    if (rest.length > 0) {
      coerceAt(container[k], rest);
      continue;
    }
    const v = container[k];
    if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) container[k] = Number(v);
  }
}
