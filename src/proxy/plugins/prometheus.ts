/**
 * `prometheus` (priority 500): per-connection metrics for the routes that enable it (APISIX's model:
 * the plugin marks which routes are measured). `stream_active_connections` goes up in `preread` and
 * down in `log`; everything else is recorded in `log`, once the session ended. Metrics that are not
 * per connection (upstream health, config version, build info) are always exported.
 */
import { z } from "zod";
import { gatewayMetrics, listenAddrLabel } from "../../observability/metrics.ts";
import type { StreamPlugin, StreamSession } from "./types.ts";

export const prometheusSchema = z.strictObject({
  /** label routes by name instead of id */
  prefer_name: z.boolean().default(false),
});
export type PrometheusConf = z.output<typeof prometheusSchema>;

export const prometheus: StreamPlugin<PrometheusConf> = {
  name: "prometheus",
  priority: 500,
  schema: prometheusSchema,
  create(conf) {
    const metrics = gatewayMetrics();
    // Sessions whose preread ran, so the gauge goes down exactly once for each time it went up.
    const open = new WeakSet<StreamSession>();
    return {
      preread(session) {
        metrics.activeConnections.inc({ listen_addr: listenAddrLabel(session.server.address, session.server.port) });
        open.add(session);
        return undefined;
      },
      log(session) {
        // Only sessions this plugin saw in preread: a session an earlier plugin rejected is counted by
        // that plugin (`recordRejected`), whichever way the pipeline calls `log`.
        if (!open.delete(session)) return;
        const listen = listenAddrLabel(session.server.address, session.server.port);
        metrics.activeConnections.dec({ listen_addr: listen });
        const route = conf.prefer_name && session.route.name ? session.route.name : session.route.id;
        metrics.connections.inc({ route });
        metrics.status.inc({ code: String(session.code), listen_addr: listen, node: session.node ?? "" });
        if (session.bytesFromClient > 0) {
          metrics.bandwidth.inc({ listen_addr: listen, type: "ingress", side: "client" }, session.bytesFromClient);
          if (session.node) {
            metrics.bandwidth.inc({ listen_addr: listen, type: "egress", side: "upstream" }, session.bytesFromClient);
          }
        }
        if (session.bytesToClient > 0) {
          metrics.bandwidth.inc({ listen_addr: listen, type: "egress", side: "client" }, session.bytesToClient);
          metrics.bandwidth.inc({ listen_addr: listen, type: "ingress", side: "upstream" }, session.bytesToClient);
        }
        if (session.connectMs !== undefined) metrics.connectDuration.observe(session.connectMs / 1000);
      },
    };
  },
};
