/**
 * `syslog` (priority 401): one RFC 5424 line per ended connection / UDP session, sent to a syslog server
 * over UDP or TCP (octet-counted frames, RFC 6587), in batches, never on the proxy's path (see
 * `SyslogSender`). APISIX's stream syslog schema; Sluice adds a useful default `log_format`.
 *
 * Frame: `<46>1 TIMESTAMP HOSTNAME sluice PID - - {json}`: PRI 46 is facility syslog (5) × 8 + severity
 * info (6); no MSGID, no structured data; the message is the JSON built from `log_format`.
 */
import { hostname } from "node:os";
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import { type CompiledLogFormat, compileLogFormat, logFormatProblems, renderLogEntry } from "./log-format.ts";
import { type BatchSettings, SyslogSender } from "./syslog-sender.ts";
import type { PluginEnv, StreamPlugin } from "./types.ts";

export { compileLogFormat } from "./log-format.ts";

/** Used when `log_format` is not set: what an operator needs to follow one connection. */
export const defaultLogFormat: Readonly<Record<string, string>> = {
  start_time: "$start_time",
  route_id: "$route_id",
  route_name: "$route_name",
  service_id: "$service_id",
  service_name: "$service_name",
  protocol: "$protocol",
  client_addr: "$remote_addr",
  client_port: "$remote_port",
  server_addr: "$server_addr",
  server_port: "$server_port",
  upstream_addr: "$upstream_addr",
  bytes_received: "$bytes_received",
  bytes_sent: "$bytes_sent",
  session_time: "$session_time",
  close_reason: "$close_reason",
  status: "$status",
};

const logFormatField = (z: PluginSchemaKit["z"]) =>
  z.record(z.string().min(1), z.unknown()).superRefine((format, ctx) => {
    for (const problem of logFormatProblems(format)) {
      ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
    }
  });

/** the group's `plugin_metadata.syslog`: a `log_format` for every syslog instance that sets none (APISIX) */
const syslogMetadataSchema = ({ z }: PluginSchemaKit) => z.strictObject({ log_format: logFormatField(z).optional() });

export const syslogSchema = ({ z }: PluginSchemaKit) =>
  z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    name: z.string().default("stream sys logger"),
    sock_type: z.enum(["tcp", "udp"]).default("tcp"),
    /** milliseconds, for connecting and writing */
    timeout: z.number().int().min(1).default(3000),
    tls: z
      .boolean()
      .default(false)
      .refine((tls) => !tls, {
        message: "TLS to the syslog server is not supported for stream routes; use tcp or udp",
      }),
    /**
     * field → `"$variable"`, a text with `$variables`, a literal, or a nested object / array of those
     * (APISIX's `log_format`); checked here, compiled once per config in `create`
     */
    log_format: logFormatField(z).optional(),
    batch_max_size: z.number().int().min(1).default(1000),
    /** seconds */
    inactive_timeout: z.number().int().min(1).default(5),
    /** seconds */
    buffer_duration: z.number().int().min(1).default(60),
    max_retry_count: z.number().int().min(0).default(0),
    /** seconds */
    retry_delay: z.number().int().min(0).default(1),
    /** accepted for APISIX compatibility; batching replaces them */
    flush_limit: z.number().int().min(1).default(4096),
    drop_limit: z.number().int().default(1048576),
    pool_size: z.number().int().min(5).default(5),
  });
export type SyslogConf = z.output<ReturnType<typeof syslogSchema>>;

const host = hostname().replace(/\s/g, "") || "-";

/** An RFC 5424 line with PRI 46 (syslog.info), app name `sluice`. */
export function syslogFrame(body: string, time: Date = new Date()): string {
  return `<46>1 ${time.toISOString()} ${host} sluice ${process.pid} - - ${body}`;
}

const compiledDefault: CompiledLogFormat = compileLogFormat(defaultLogFormat);

function senderFor(env: PluginEnv, conf: SyslogConf): SyslogSender {
  const id = `${conf.sock_type}:${conf.host}:${conf.port}`;
  const settings: BatchSettings = {
    batchMaxSize: conf.batch_max_size,
    inactiveTimeoutMs: conf.inactive_timeout * 1000,
    bufferDurationMs: conf.buffer_duration * 1000,
    maxRetryCount: conf.max_retry_count,
    retryDelayMs: conf.retry_delay * 1000,
    timeoutMs: conf.timeout,
  };
  let sender = env.shared.get(id) as SyslogSender | undefined;
  if (sender) {
    sender.settings = settings;
    sender.users++;
    return sender;
  }
  const target = { host: conf.host, port: conf.port, sockType: conf.sock_type };
  const label = `${conf.sock_type}://${conf.host}:${conf.port}`;
  sender = new SyslogSender(target, settings, env.adapter, env.logger, (count) =>
    env.metrics.gateway.syslogDropped.inc({ server: label }, count),
  );
  sender.users = 1;
  env.shared.set(id, sender);
  return sender;
}

/** The last instance using a sender is gone (its config was replaced, or the gateway stopped). */
function releaseSender(env: PluginEnv, sender: SyslogSender): void {
  if (--sender.users > 0) return;
  const id = `${sender.target.sockType}:${sender.target.host}:${sender.target.port}`;
  if (env.shared.get(id) === sender) env.shared.delete(id);
  void sender.flush().finally(() => sender.close());
}

export const syslog: StreamPlugin<SyslogConf> = {
  name: "syslog",
  priority: 401,
  schema: syslogSchema,
  metadataSchema: syslogMetadataSchema,
  create(conf, env) {
    const sender = senderFor(env, conf);
    // the route's own log_format, else the group's plugin_metadata one, else Sluice's default (APISIX's order)
    const own = conf.log_format ?? (env.metadata?.log_format as Record<string, unknown> | undefined);
    const format = own ? compileLogFormat(own) : compiledDefault;
    return {
      log(session) {
        sender.push(syslogFrame(JSON.stringify(renderLogEntry(format, session))));
      },
      dispose() {
        releaseSender(env, sender);
      },
    };
  },
};
