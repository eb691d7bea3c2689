/**
 * `prometheus` (priority 500), APISIX's meaning: the plugin marks which routes export per-session
 * metrics (connections, status codes, bandwidth, connect time, active connections). The pipeline counts
 * every session of such a route once, however it ends, including the ones an earlier plugin rejected.
 * Metrics that are not per session (upstream health, config version, unmatched connections, build info)
 * are always exported.
 */
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import type { StreamPlugin } from "./types.ts";

export const prometheusSchema = ({ z }: PluginSchemaKit) =>
  z.strictObject({
    /** label routes by name instead of id */
    prefer_name: z.boolean().default(false),
  });
export type PrometheusConf = z.output<ReturnType<typeof prometheusSchema>>;

export const prometheus: StreamPlugin<PrometheusConf> = {
  name: "prometheus",
  priority: 500,
  schema: prometheusSchema,
  create(conf, env, scope) {
    env.metrics.exportSessions(conf.prefer_name && scope.routeName ? scope.routeName : scope.routeId);
    return {};
  },
};
