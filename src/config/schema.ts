/**
 * Zod schemas for the stream parts of a service, shared by the admin API (validation and OpenAPI)
 * and the data plane (the compiled config is parsed with the same rules). Field names, ranges and
 * defaults follow APISIX's `upstream` and `stream_route` schemas; where Sluice goes further (UDP
 * health checks) it is marked.
 */
import { z } from "zod";
import { isStandardAddress, isStandardCidr, looksLikeIPv4, parseHostPort } from "../net/addresses.ts";
import { CertificateError, checkCertificateBundle, checkCertificatePair } from "./certificate.ts";

/** An IPv4 (four decimal octets, no leading zeros) or IPv6 address, no prefix. */
export const ipAddress = z.string().refine(isStandardAddress, { message: "must be an IPv4 or IPv6 address" });

/** An IPv4/IPv6 address or CIDR (`10.0.0.0/8`, `2001:db8::/32`), in standard text. */
export const ipOrCidr = z.string().refine(isStandardCidr, {
  message: "must be an IPv4/IPv6 address or CIDR",
});

const hostLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const hostNamePattern = new RegExp(`^(?:\\*\\.)?${hostLabel}(?:\\.${hostLabel})*$`);
/** A TLS server name as sent in SNI: a host name, optionally with a leading `*.` wildcard label. */
export const sniHost = z
  .string()
  .max(253)
  .regex(hostNamePattern, { message: "must be a host name, optionally starting with '*.'" });

/** a label's value is a string or, as in ADC, a list of strings */
export const labels = z.record(
  z.string().min(1).max(256),
  z.union([z.string().max(256), z.array(z.string().max(256)).max(64)]),
);
export type Labels = z.output<typeof labels>;

/** an id a client chooses (ADC's and APISIX's rule): letters, digits, `-`, `_` and `.` */
export const objectId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[a-zA-Z0-9-_.]+$/, { message: "must be letters, digits, '-', '_' and '.'" });

export const port = z.number().int().min(1).max(65535);

/** A host for an upstream node: IP address or DNS name. */
export const nodeHost = z
  .string()
  .min(1)
  .max(253)
  .refine((s) => (s.includes(":") || looksLikeIPv4(s) ? isStandardAddress(s) : /^[A-Za-z0-9_.-]+$/.test(s)), {
    message: "must be an IP address (IPv4 as four decimal octets without leading zeros) or a host name",
  });

export const upstreamNode = z.strictObject({
  host: nodeHost,
  port,
  weight: z.number().int().min(0).default(1),
  priority: z.number().int().default(0),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type UpstreamNode = z.output<typeof upstreamNode>;

/** APISIX accepts nodes as an array or as a `{"host:port": weight}` map; both normalise to the array form. */
export const upstreamNodes = z.union([
  z.array(upstreamNode),
  z.record(z.string(), z.number().int().min(0)).transform((map, ctx) => {
    const out: UpstreamNode[] = [];
    for (const [hostPort, weight] of Object.entries(map)) {
      const node = parseHostPort(hostPort);
      if (!node || !(node.port >= 1 && node.port <= 65535)) {
        ctx.addIssue({ code: "custom", message: `node key '${hostPort}' must be 'host:port' with port 1-65535` });
        continue;
      }
      out.push({ host: node.host, port: node.port, weight, priority: 0 });
    }
    return out;
  }),
]);

/**
 * The longest delay a JavaScript timer keeps: a longer one (`setTimeout` past 2^31−1 ms) fires at once
 * on every runtime, so a timeout written as 25 days would cut every connection immediately.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** a duration in seconds that a timer can hold (plugins' duration fields use these too) */
export const durationSeconds = z
  .number()
  .positive()
  .max(MAX_TIMER_MS / 1000);
/** a duration in milliseconds that a timer can hold */
export const durationMs = z.number().int().min(1).max(MAX_TIMER_MS);
/** a whole number of seconds, for intervals */
export const intervalSeconds = z
  .number()
  .int()
  .min(1)
  .max(Math.floor(MAX_TIMER_MS / 1000));

export const upstreamTimeout = z.strictObject({
  connect: durationSeconds.default(60),
  send: durationSeconds.default(600),
  read: durationSeconds.default(600),
  /**
   * Sluice extension (HAProxy `timeout client-fin` / `server-fin`): the idle timeout once one side of a
   * TCP connection has closed its half; absent means 10 s
   */
  fin: durationSeconds.optional(),
});

/** The health-check types: each has its probe in `src/proxy/health/`, registered in `probe-registry.ts`. */
export const healthCheckType = z.enum(["tcp", "udp"]);
export type HealthCheckType = z.infer<typeof healthCheckType>;

/** HTTP statuses of APISIX's checks: accepted and kept, no effect on a stream (it has no status) */
const httpStatuses = z.array(z.number().int().min(200).max(599)).min(1);

/** APISIX `checks.active` for stream upstreams, with `type: "udp"` added by Sluice. */
export const activeCheck = z.strictObject({
  type: healthCheckType.default("tcp"),
  timeout: durationSeconds.default(1),
  concurrency: z.number().int().min(1).default(10),
  host: nodeHost.optional(),
  port: port.optional(),
  /** Sluice extension: the UDP probe. `send` is the payload; a reply is required, and must contain `expect` when set. */
  udp: z
    .strictObject({
      send: z.string().min(1),
      expect: z.string().optional(),
      /** `hex` lets binary probes (a DNS query) be written as hex strings. */
      encoding: z.enum(["utf8", "hex"]).default("utf8"),
    })
    .optional(),
  healthy: z
    .strictObject({
      interval: intervalSeconds.default(1),
      successes: z.number().int().min(1).max(254).default(2),
      http_statuses: httpStatuses.optional(),
    })
    .prefault({}),
  unhealthy: z
    .strictObject({
      interval: intervalSeconds.default(1),
      tcp_failures: z.number().int().min(1).max(254).default(2),
      timeouts: z.number().int().min(1).max(254).default(3),
      http_statuses: httpStatuses.optional(),
      http_failures: z.number().int().min(1).max(254).optional(),
    })
    .prefault({}),
  // APISIX's HTTP-check fields: accepted and kept as APISIX does, no effect (a tcp or udp probe sends no request)
  http_path: z.string().optional(),
  https_verify_certificate: z.boolean().optional(),
  http_request_headers: z.array(z.string()).min(1).optional(),
});

export const passiveCheck = z.strictObject({
  type: healthCheckType.default("tcp"),
  healthy: z
    .strictObject({ successes: z.number().int().min(0).max(254).default(5), http_statuses: httpStatuses.optional() })
    .prefault({}),
  unhealthy: z
    .strictObject({
      tcp_failures: z.number().int().min(0).max(254).default(2),
      timeouts: z.number().int().min(0).max(254).default(7),
      http_statuses: httpStatuses.optional(),
      http_failures: z.number().int().min(0).max(254).optional(),
    })
    .prefault({}),
});

export const upstreamChecks = z
  .strictObject({ active: activeCheck.optional(), passive: passiveCheck.optional() })
  .refine((c) => c.active !== undefined || c.passive !== undefined, {
    message: "checks needs 'active' or 'passive'",
  });

/** The balancer types: each has its file in `src/proxy/balancer/`, registered in its `index.ts`. */
export const balancerType = z.enum(["roundrobin", "chash", "least_conn", "ewma"]);
export type BalancerType = z.infer<typeof balancerType>;

/** A TLS server name to send or verify: a host name without a wildcard. */
export const tlsServerName = z
  .string()
  .max(253)
  .regex(new RegExp(`^${hostLabel}(?:\\.${hostLabel})*$`), { message: "must be a host name" });

/** PEM text checked as one or more certificates (a CA bundle, a client chain) */
const pemCertificates = z.string().superRefine((pem, ctx) => {
  try {
    checkCertificateBundle(pem);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: certificateReason(error) });
  }
});

function certificateReason(error: unknown): string {
  if (error instanceof CertificateError) return error.reason;
  throw error;
}

/**
 * Sluice's TLS to upstream nodes (APISIX has `scheme: "tls"`; these settings follow nginx's
 * `proxy_ssl_*`). `verify` defaults to on when `ca` is given (the compiled config always carries the
 * decision); `sni` defaults to the client's SNI; `client_cert`/`client_key` go together.
 */
export const upstreamTls = z.strictObject({
  verify: z.boolean().optional(),
  ca: pemCertificates.optional(),
  sni: tlsServerName.optional(),
  client_cert: z.string().optional(),
  client_key: z.string().optional(),
});
export type UpstreamTls = z.output<typeof upstreamTls>;

export const upstreamScheme = z.enum(["tcp", "udp", "tls"]);
/** what a listener or a socket speaks underneath: a `tls` upstream is reached over TCP */
export function transportOf(scheme: z.output<typeof upstreamScheme>): "tcp" | "udp" {
  return scheme === "udp" ? "udp" : "tcp";
}

export const upstream = z
  .strictObject({
    scheme: upstreamScheme.default("tcp"),
    type: balancerType.default("roundrobin"),
    hash_on: z.enum(["vars", "vars_combinations"]).default("vars"),
    key: z.string().min(1).default("remote_addr"),
    nodes: upstreamNodes,
    /** connect failures only; absent means nodes − 1 (computed by the data plane, since runtime nodes may change) */
    retries: z.number().int().min(0).optional(),
    /** seconds across all tries; 0 means no limit */
    retry_timeout: z
      .number()
      .min(0)
      .max(MAX_TIMER_MS / 1000)
      .default(0),
    timeout: upstreamTimeout.prefault({}),
    checks: upstreamChecks.optional(),
    /** Sluice extension for `scheme: "udp"`: `responses` is nginx `proxy_responses` (a session ends after that many replies) */
    udp: z.strictObject({ responses: z.number().int().min(1).max(65535).optional() }).optional(),
    tls: upstreamTls.optional(),
    /** send a PROXY protocol header of this version to each node before the first byte (TCP only) */
    proxy_protocol: z.enum(["v1", "v2"]).optional(),
    name: z.string().max(256).optional(),
    desc: z.string().max(256).optional(),
    // accepted and kept as APISIX accepts them; none has an effect on a stream (docs/apisix-compat.md)
    labels: labels.optional(),
    /** HTTP connection pool */
    keepalive_pool: z
      .strictObject({
        size: z.number().int().min(1).default(320),
        idle_timeout: z.number().min(0).default(60),
        requests: z.number().int().min(1).default(1000),
      })
      .optional(),
    /** the HTTP Host header */
    pass_host: z.enum(["pass", "node", "rewrite"]).optional(),
    upstream_host: z.string().min(1).optional(),
  })
  .superRefine((u, ctx) => {
    if (u.checks?.active?.host !== undefined) {
      // APISIX sends `host` as the Host header of HTTP checks; a tcp or udp probe has nowhere to put it
      ctx.addIssue({
        code: "custom",
        path: ["checks", "active", "host"],
        message:
          "is for HTTP checks only: tcp and udp probes connect to each node's own address (use 'port' to probe another port)",
      });
    }
    if (u.scheme === "udp" && u.checks?.active?.type === "tcp" && u.checks.active !== undefined) {
      // A TCP probe of a UDP service says nothing about it; ask for the UDP probe instead.
      ctx.addIssue({ code: "custom", path: ["checks", "active", "type"], message: "must be 'udp' for a udp upstream" });
    }
    if (u.udp !== undefined && u.scheme !== "udp") {
      ctx.addIssue({ code: "custom", path: ["udp"], message: "is for udp upstreams only (scheme: 'udp')" });
    }
    if (u.checks?.active?.type === "udp" && !u.checks.active.udp) {
      ctx.addIssue({ code: "custom", path: ["checks", "active", "udp"], message: "is required when type is 'udp'" });
    }
    if (u.scheme === "udp" && u.proxy_protocol !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["proxy_protocol"],
        message: "is TCP only: a udp upstream cannot send a PROXY protocol header",
      });
    }
    if (u.tls !== undefined) checkUpstreamTls(u.scheme, u.tls, ctx);
  });

function checkUpstreamTls(scheme: string, tls: UpstreamTls, ctx: z.RefinementCtx): void {
  if (scheme !== "tls") {
    ctx.addIssue({ code: "custom", path: ["tls"], message: `needs scheme 'tls' (scheme is '${scheme}')` });
    return;
  }
  const { client_cert: cert, client_key: key } = tls;
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "client_cert" : "client_key";
    const given = cert === undefined ? "client_key" : "client_cert";
    ctx.addIssue({ code: "custom", path: ["tls", missing], message: `is required with ${given}` });
    return;
  }
  if (cert === undefined || key === undefined) return;
  try {
    checkCertificatePair(cert, key, "client_cert", "client_key");
  } catch (error) {
    const field = error instanceof CertificateError ? error.field : "client_cert";
    ctx.addIssue({ code: "custom", path: ["tls", field], message: certificateReason(error) });
  }
}
export type Upstream = z.output<typeof upstream>;

/** Plugins by name; each value is validated by that plugin's own schema (see src/proxy/plugins/). */
export const pluginMap = z.record(z.string(), z.record(z.string(), z.unknown()));
export type PluginMap = Record<string, Record<string, unknown>>;

/** APISIX `stream_route`, the fields a user writes. */
export const streamRouteFields = z.strictObject({
  name: z.string().min(1).max(256),
  desc: z.string().max(256).optional(),
  labels: labels.optional(),
  server_addr: ipAddress.optional(),
  server_port: port,
  remote_addr: ipOrCidr.optional(),
  sni: sniHost.optional(),
  /**
   * `passthrough` (the default when `sni` is set) forwards the TLS bytes untouched; `terminate` ends TLS
   * with the group's certificate for `sni` (without `sni`: the group's first certificate, for clients
   * that send no SNI) and forwards plaintext.
   */
  tls: z.enum(["passthrough", "terminate"]).optional(),
  /** expect a PROXY protocol v1/v2 header first; every route on the port must agree */
  proxy_protocol: z.boolean().optional(),
  plugins: pluginMap.optional(),
});
export type StreamRouteFields = z.output<typeof streamRouteFields>;

export const tlsProtocol = z.enum(["TLSv1.2", "TLSv1.3"]);

/**
 * APISIX's SSL object as a user writes it. The certificates and keys are checked by
 * `checkSslCertificates` (src/config/certificate.ts), which needs them together; `snis` must each be
 * covered by a certificate's names (see `uncoveredSni`).
 */
export const sslFields = z.strictObject({
  snis: z.array(sniHost).min(1),
  cert: z.string().min(1),
  key: z.string().min(1),
  certs: z.array(z.string().min(1)).optional(),
  keys: z.array(z.string().min(1)).optional(),
  client: z
    .strictObject({
      ca: pemCertificates,
      /** how many intermediates may stand between a client certificate and `ca` */
      depth: z.number().int().min(0).max(9).default(1),
    })
    .optional(),
  ssl_protocols: z.array(tlsProtocol).min(1).optional(),
  labels: labels.optional(),
});
export type SslFields = z.output<typeof sslFields>;

/** `"9000-9999"` or `"5353"`: the ports a gateway group may open. */
export const portRange = z
  .string()
  .regex(/^\d{1,5}(-\d{1,5})?$/, { message: "must be 'PORT' or 'FROM-TO'" })
  .refine(
    (s) => {
      const [a, b = a] = s.split("-").map(Number) as [number, number?];
      return a >= 1 && b! <= 65535 && a <= b!;
    },
    { message: "ports must be 1-65535 and FROM <= TO" },
  );
