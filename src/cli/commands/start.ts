/**
 * `sluice start`: everything in one process: the control plane (storage, migrations, admin API, gateway
 * sync routes), the gateway of group `default` fed straight from the local store, and the status server.
 */
import { createLogger } from "../../observability/logger.ts";
import { statusHandler } from "../../observability/status-app.ts";
import { DEFAULT_GROUP_ID } from "../../store/gateway-groups.ts";
import { DbInstanceRegistry } from "../../store/instances.ts";
import { StorageReadiness } from "../../store/storage-readiness.ts";
import { advertisedAddress, hostName, loadInstanceId } from "../../sync/instance-identity.ts";
import { HEARTBEAT_INTERVAL_MS, type HeartbeatBody, runtimeWithWorkers } from "../../sync/protocol.ts";
import { parseHostPort } from "../addresses.ts";
import { type CliCommand, type CommandContext, parseFlags } from "../command.ts";
import { startControlPlaneServer, startKeyring } from "../control-plane-server.ts";
import { attachDataPlane } from "../data-plane.ts";
import {
  type DataPlaneSettings,
  dataPlaneFlags,
  gatewayMetricsOptions,
  parseDataPlaneSettings,
} from "../data-plane-settings.ts";
import { openDataPlane, type RunningDataPlane } from "../running-data-plane.ts";

export const START_HELP = `Usage: sluice start [options]

All in one process: admin API, control plane storage and a gateway in group "default".

  --admin-addr ADDR       admin API (env SLUICE_ADMIN_ADDR, default 127.0.0.1:9180; port 0 = any free port)
  --status-addr ADDR      /healthz /readyz /metrics (env SLUICE_STATUS_ADDR, default 127.0.0.1:9091)
  --data-dir DIR          PGlite data when DATABASE_URL is unset (env SLUICE_DATA_DIR, default ./data)
  --listen-addr ADDR      address for routes without server_addr (env SLUICE_LISTEN_ADDR, default 0.0.0.0)
  --drain-timeout SEC     how long removed routes' connections may finish (env SLUICE_DRAIN_TIMEOUT, default 30)
  --max-connections N     TCP connections + UDP sessions at once (env SLUICE_MAX_CONNECTIONS, default from the fd limit)
  --runtime-adapter KIND  native | node-compat (env SLUICE_RUNTIME_ADAPTER, default native)
  --workers N|auto        data-plane processes on the same ports, one per core with auto (env SLUICE_WORKERS, default 1)
  --apisix-group NAME     gateway group the APISIX Admin API (/apisix/admin/) writes into (env SLUICE_APISIX_GROUP, default default)
  --log-level LEVEL       trace debug info warn error (env SLUICE_LOG_LEVEL, default info)
  --metrics-compat KIND   sluice | apisix: APISIX's metric names and labels (env SLUICE_METRICS_COMPAT, default sluice)
  -h, --help              this text

Environment: DATABASE_URL=postgres://… uses a PostgreSQL server instead of PGlite;
SLUICE_ADMIN_KEY sets the admin key (otherwise one is generated on the first start and printed once);
SLUICE_KEYRING / SLUICE_KEYRING_FILE the keys that encrypt private keys at rest (otherwise the file
'keyring' in the data dir, created on the first start).
`;

export interface StartSettings extends DataPlaneSettings {
  admin: { host: string; port: number };
  dataDir: string | undefined;
  /** the gateway group the APISIX Admin API writes into */
  apisixGroup: string;
}

export function parseStartArgs(argv: string[], env: Record<string, string | undefined>): StartSettings {
  const values = parseFlags(argv, {
    ...dataPlaneFlags,
    "admin-addr": { type: "string" },
    "data-dir": { type: "string" },
    "apisix-group": { type: "string" },
  });
  return {
    ...parseDataPlaneSettings(values, env),
    admin: parseHostPort(values["admin-addr"] ?? env.SLUICE_ADMIN_ADDR ?? "127.0.0.1:9180", "--admin-addr"),
    dataDir: values["data-dir"] ?? env.SLUICE_DATA_DIR,
    apisixGroup: values["apisix-group"] ?? env.SLUICE_APISIX_GROUP ?? "default",
  };
}

export const startCommand: CliCommand = {
  name: "start",
  help: START_HELP,
  async run(argv, context) {
    const env = process.env;
    await startAll(parseStartArgs(argv, env), context, env);
    return undefined;
  },
};

async function startAll(
  settings: StartSettings,
  context: CommandContext,
  env: Record<string, string | undefined>,
): Promise<void> {
  const { edge } = context;
  const logger = createLogger(settings.logLevel);
  let dataPlane: RunningDataPlane | undefined;
  const controlPlane = await startControlPlaneServer({
    admin: settings.admin,
    dataDir: settings.dataDir,
    keyring: await startKeyring(settings.dataDir, env),
    logger,
    context,
    env,
    traffic: () => dataPlane?.traffic(),
    apisixGroup: settings.apisixGroup,
  });
  const { store } = controlPlane;
  try {
    dataPlane = await openDataPlane({
      settings,
      edge,
      logger,
      gatewayGroup: DEFAULT_GROUP_ID,
      metrics: gatewayMetricsOptions(context, env, settings.metricsCompat),
    });
  } catch (error) {
    await controlPlane.closeApi().catch(() => {});
    await controlPlane.closeStorage().catch(() => {});
    throw error;
  }
  const plane = dataPlane;
  const runtime = `${edge.runtime} ${edge.runtimeVersion}`;
  logger.info({ runtime, adapter: plane.adapterName }, "gateway started");

  // The in-process gateway records its own heartbeats, so it is listed in `instances` and `healthcheck`
  // like any gateway.
  const instances = new DbInstanceRegistry(store.database.db);
  const identity = {
    id: await loadInstanceId(settings.dataDir ?? env.SLUICE_DATA_DIR ?? "./data"),
    hostname: hostName(),
    address: advertisedAddress(settings.listenAddr),
    runtime: runtimeWithWorkers(runtime, plane.workers),
    sluice_version: context.version,
  };
  let configError: HeartbeatBody["config_error"] = null;
  const heartbeat = () =>
    instances
      .heartbeat(DEFAULT_GROUP_ID, {
        ...identity,
        config_version: attached.appliedVersion() ?? -1,
        config_error: configError,
        ...plane.report(),
      })
      .catch((error: Error) => logger.warn({ reason: error.message }, "could not record the gateway heartbeat"));
  const attached = attachDataPlane(
    store.feed,
    store.groups,
    DEFAULT_GROUP_ID,
    {
      async apply(config) {
        try {
          await plane.apply(config);
          configError = null;
        } catch (error) {
          configError = { version: config.version, message: (error as Error).message };
          throw error;
        } finally {
          void heartbeat();
        }
      },
    },
    logger,
  );
  const heartbeatTimer = setInterval(heartbeat, HEARTBEAT_INTERVAL_MS);

  let stopping = false;
  const storage = new StorageReadiness(store.database);
  const status = statusHandler({
    notReady: () => {
      if (stopping) return "shutting down";
      if (!attached.ready()) return "the newest config is not applied yet";
      if (!plane.serving()) return "not every worker serves the newest config yet";
      return storage.problem();
    },
    status: () => ({
      admin: !stopping,
      storage: store.database.kind,
      config_version: attached.appliedVersion() ?? null,
      data_plane: { adapter: plane.adapterName, workers: plane.workers, ...plane.report(), gateway: plane.status() },
    }),
    metricsText: () => plane.metricsText(),
    metricsContentType: plane.metricsContentType,
  });
  const statusServer = await edge.serveStatus(status, settings.status.host, settings.status.port);
  logger.info({ addr: statusServer.addr }, "status api listening");

  edge.onShutdownSignal(async (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // Stop taking admin requests, then let the gateway drain (/readyz answers 503 meanwhile), then close
    // the status server and the storage.
    await controlPlane.closeApi().catch((e: Error) => logger.error({ reason: e.message }, "admin api close failed"));
    attached.detach();
    clearInterval(heartbeatTimer);
    await attached.idle();
    await plane.stop().catch((e: Error) => logger.error({ reason: e.message }, "gateway stop failed"));
    await statusServer.close();
    await controlPlane.closeStorage().catch((e: Error) => logger.error({ reason: e.message }, "storage close failed"));
    logger.info("stopped");
    edge.exit(0);
  });
}
