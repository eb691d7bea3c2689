/**
 * A stream plugin is a schema plus phase hooks, as in APISIX's stream subsystem. One file a plugin in
 * this folder; `index.ts` lists them. The admin API validates a plugin's config with `schema`; the data
 * plane calls `create` once per (route, config version) and runs the instance's hooks per connection
 * (TCP) or session (UDP), in descending `priority`.
 */

import type { Logger } from "pino";
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import type { RouteMetrics } from "../../observability/metrics.ts";
import type { AddressInfo, SocketAdapter } from "../adapter.ts";
import type { FirstBytesResult } from "../first-bytes.ts";

/** How reading the client's first bytes ended (see `ClientBytes`). */
export type FirstBytesOutcome<Done extends object> =
  | ({ kind: "done"; consumed: number } & Done)
  | { kind: "error"; reason: string }
  /** the gateway's first-bytes time limit passed first */
  | { kind: "timeout" }
  /** the client ended or closed first */
  | { kind: "closed" };

/** The client's bytes as a preread hook may read them (TCP only). */
export interface ClientBytes {
  /**
   * Feeds `reader` the client's bytes from the first one, chunk by chunk as they arrive, until it is done
   * or refuses, the client ends, or the gateway's first-bytes time limit (the one the TLS ClientHello
   * gets) passes. The bytes are only looked at: every one of them still goes to the upstream. The reader
   * bounds its own memory; the connection holds the chunks it read until the upstream is connected.
   */
  read<Done extends object>(reader: (chunk: Uint8Array) => FirstBytesResult<Done>): Promise<FirstBytesOutcome<Done>>;
}

/** What a plugin sees of one proxied connection or UDP session. Mutable fields are filled as it goes. */
export interface StreamSession {
  readonly protocol: "tcp" | "udp";
  /** the client, normalised (IPv4-mapped IPv6 is IPv4) */
  readonly client: AddressInfo;
  /** the gateway address the client connected to */
  readonly server: AddressInfo;
  readonly route: { id: string; name: string };
  readonly service: { id: string; name: string };
  /** the TLS server name when the listener reads SNI */
  readonly sni?: string;
  /** ms since epoch when the connection was accepted */
  readonly startedAt: number;
  /** the chosen upstream node, once connected (`host:port`) */
  node?: string;
  /** ms spent connecting to the upstream, retries included, once connected (feeds the connect-duration histogram) */
  connectMs?: number;
  /** bytes received from the client / sent to the client */
  bytesFromClient: number;
  bytesToClient: number;
  /** status code as APISIX's stream logs use it: 200 proxied, 403 denied, 502 no upstream, 503 limited */
  code: number;
  /** why it ended: `client_closed`, `upstream_closed`, `idle_timeout`, `connect_failed`, `rejected`, `drained`, `error`, … */
  closeReason?: string;
  /** ms since epoch when it ended */
  endedAt?: number;
  /**
   * Variables plugins set for the balancer and the plugins after them (APISIX's `ctx.var`), such as
   * mqtt-proxy's `mqtt_client_id`; created by the first plugin that sets one.
   */
  vars?: Map<string, string>;
  /** TCP: the client's first bytes, for a plugin that routes on them (mqtt-proxy) */
  readonly clientBytes?: ClientBytes;
}

/**
 * The result of a `preread` hook: carry on, wait, or close with a code (and, for the access log's
 * `close_reason`, why: `rejected` when not given).
 */
export type PrereadVerdict = undefined | { reject: number; reason?: string } | { delayMs: number };

export interface PluginInstance {
  /** before the upstream is chosen; may reject (the client gets no upstream byte) or delay */
  preread?(session: StreamSession): PrereadVerdict | Promise<PrereadVerdict>;
  /** exactly once per session that reached this plugin's preread (or every session, if no preread), after it ended */
  log?(session: StreamSession): void;
  /** the config that created this instance was replaced and its last session ended */
  dispose?(): void;
}

/** What the data plane lends a plugin. */
export interface PluginEnv {
  logger: Logger;
  /** for plugins that talk to the network (syslog) */
  adapter: SocketAdapter;
  /** the gateway group this gateway belongs to */
  gatewayGroup: string;
  /** the metrics of the route this instance serves (and, through `gateway`, of the whole gateway) */
  metrics: RouteMetrics;
  /**
   * State that outlives config versions (limit-conn counters must survive a re-publish), one map per
   * plugin name, shared by all instances of that plugin in this gateway.
   */
  shared: Map<string, unknown>;
  /**
   * Counts shared by every worker of the process (`--workers`), held by the primary: with them
   * limit-conn's `policy: "local"` limits the process, not each worker. Absent in a single process.
   */
  processCounts?: ProcessCounts;
  /** this plugin's entry of the group's `plugin_metadata` (checked against its `metadataSchema`), if set */
  metadata?: Record<string, unknown>;
}

/** Connection counts one place holds for every worker of a process; `acquire` gives the count after adding one. */
export interface ProcessCounts {
  acquire(key: string): Promise<number>;
  release(key: string): void;
}

/** The route an instance is created for. */
export interface PluginScope {
  routeId: string;
  /** for labels that prefer names */
  routeName?: string;
  serviceId: string;
}

export interface StreamPlugin<Conf = Record<string, unknown>> {
  readonly name: string;
  readonly priority: number;
  /**
   * builds the schema that validates and fills defaults (the admin API reports its issues as 400s); built
   * on first use by src/config/plugin-config.ts (`pluginSchema`), never at import, so that a gateway
   * that does not check configs does not load zod
   */
  readonly schema: (kit: PluginSchemaKit) => z.ZodType<Conf>;
  /** builds the schema of the plugin's `plugin_metadata` (group-wide settings, APISIX's `metadata_schema`), if it reads any */
  readonly metadataSchema?: (kit: PluginSchemaKit) => z.ZodType;
  create(conf: Conf, env: PluginEnv, scope: PluginScope): PluginInstance;
}
