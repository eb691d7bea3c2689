/**
 * `sluice control-plane`: the admin API and gateway config delivery only, on PostgreSQL, for any number
 * of replicas on one database. `DATABASE_URL` is required (PGlite is one process's private store;
 * replicas must share a server). Gateways connect to it with `sluice gateway --control-plane URL`.
 */
import { createLogger, type Logger } from "../../observability/logger.ts";
import { processRegistry } from "../../observability/metrics.ts";
import { statusHandler } from "../../observability/status-app.ts";
import { type Keyring, keyringFromEnvironment } from "../../store/keyring.ts";
import { StorageReadiness } from "../../store/storage-readiness.ts";
import { parseHostPort } from "../addresses.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { startControlPlaneServer } from "../control-plane-server.ts";
import { gatewayMetricsOptions, parseLogLevel, parseMetricsCompat } from "../data-plane-settings.ts";

export const CONTROL_PLANE_HELP = `Usage: DATABASE_URL=postgres://… sluice control-plane [options]

The admin API and gateway config delivery only (no gateway). Run any number of replicas on one
PostgreSQL database; gateways connect with 'sluice gateway --control-plane URL[,URL2]'.

  --admin-addr ADDR   admin API and gateway endpoints (env SLUICE_ADMIN_ADDR, default 127.0.0.1:9180)
  --status-addr ADDR  /healthz /readyz /metrics (env SLUICE_STATUS_ADDR, default 127.0.0.1:9091)
  --log-level LEVEL   (env SLUICE_LOG_LEVEL, default info)
  --metrics-compat K  sluice | apisix: apisix_node_info instead of build_info (env SLUICE_METRICS_COMPAT)
  --apisix-group NAME gateway group the APISIX Admin API (/apisix/admin/) writes into (env SLUICE_APISIX_GROUP, default default)

Environment: DATABASE_URL (required), SLUICE_KEYRING or SLUICE_KEYRING_FILE (the keys that encrypt
certificate private keys, the same on every replica; without them certificates are refused),
SLUICE_ADMIN_KEY.
`;

export const controlPlaneCommand: CliCommand = {
  name: "control-plane",
  help: CONTROL_PLANE_HELP,
  async run(argv, context) {
    const env = process.env;
    const values = parseFlags(argv, {
      "admin-addr": { type: "string" },
      "status-addr": { type: "string" },
      "log-level": { type: "string" },
      "metrics-compat": { type: "string" },
      "apisix-group": { type: "string" },
    });
    const url = env.DATABASE_URL ?? "";
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new UsageError(
        "DATABASE_URL=postgres://user@host:5432/db is required: replicas share one PostgreSQL database " +
          "(for a single process with embedded storage use 'sluice start')",
      );
    }
    const admin = parseHostPort(values["admin-addr"] ?? env.SLUICE_ADMIN_ADDR ?? "127.0.0.1:9180", "--admin-addr");
    const statusAddr = parseHostPort(
      values["status-addr"] ?? env.SLUICE_STATUS_ADDR ?? "127.0.0.1:9091",
      "--status-addr",
    );
    const logger = createLogger(parseLogLevel(values["log-level"], env));
    const controlPlane = await startControlPlaneServer({
      admin,
      dataDir: undefined,
      // replicas share one database, so they must share its keyring: from configuration, never generated
      keyring: await configuredKeyring(env, logger),
      logger,
      context,
      env,
      apisixGroup: values["apisix-group"] ?? env.SLUICE_APISIX_GROUP ?? "default",
    });
    const registry = processRegistry(
      gatewayMetricsOptions(context, env, parseMetricsCompat(values["metrics-compat"], env)),
    );
    let stopping = false;
    const storage = new StorageReadiness(controlPlane.store.database);
    const status = statusHandler({
      notReady: () => (stopping ? "shutting down" : storage.problem()),
      status: () => ({ admin: !stopping, storage: controlPlane.store.database.kind }),
      metricsText: () => registry.metrics(),
      metricsContentType: registry.contentType,
    });
    const statusServer = await context.edge.serveStatus(status, statusAddr.host, statusAddr.port);
    logger.info({ addr: statusServer.addr }, "status api listening");
    context.edge.onShutdownSignal(async (signal) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "shutting down");
      await controlPlane.closeApi().catch((e: Error) => logger.error({ reason: e.message }, "admin api close failed"));
      await statusServer.close();
      await controlPlane
        .closeStorage()
        .catch((e: Error) => logger.error({ reason: e.message }, "storage close failed"));
      logger.info("stopped");
      context.edge.exit(0);
    });
    return undefined;
  },
};

/**
 * The replicas' shared keyring, when configured. Without one the control plane still serves routes,
 * publishes and gateways (a deployment that terminates no TLS needs no keyring); certificate writes are
 * then refused with a message that names the setting.
 */
async function configuredKeyring(
  env: Record<string, string | undefined>,
  logger: Logger,
): Promise<Keyring | undefined> {
  if (env.SLUICE_KEYRING?.trim() || env.SLUICE_KEYRING_FILE?.trim()) return keyringFromEnvironment(env);
  logger.warn("no SLUICE_KEYRING or SLUICE_KEYRING_FILE: certificates (ssls) cannot be stored or served");
  return undefined;
}
