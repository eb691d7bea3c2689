/**
 * `sluice gateway`: a data plane only, without database credentials. Two modes:
 * - `--control-plane URL[,URL2] --group NAME --token-file PATH`: streams the group's config from the control
 *   plane(s) (src/sync/), caches the last good one in `<data-dir>/config-cache.json`, heartbeats;
 * - `--config sluice.yaml`: standalone, from a declarative file, reloaded when it changes.
 *
 * Each mode's modules are imported when that mode starts: a gateway fed by control planes never loads the
 * declarative file's parser and checks (yaml, the ADC schemas), a standalone one never loads the sync
 * client. What a process loads it keeps for its whole life (docs/performance.md, idle RSS).
 */
import type { DeclarativeFileWatcher } from "../../declarative/file-watcher.ts";
import { createLogger } from "../../observability/logger.ts";
import { statusHandler } from "../../observability/status-app.ts";
import type { GatewaySync } from "../../sync/gateway-sync.ts";
import { advertisedAddress, hostName, loadInstanceId } from "../../sync/instance-identity.ts";
import { runtimeWithWorkers } from "../../sync/protocol.ts";
import { type CliCommand, type CommandContext, parseFlags, UsageError } from "../command.ts";
import { dataPlaneFlags, gatewayMetricsOptions, parseDataPlaneSettings } from "../data-plane-settings.ts";
import { gatewayToken } from "../gateway-token.ts";
import { openDataPlane } from "../running-data-plane.ts";

export const GATEWAY_HELP = `Usage: sluice gateway --control-plane URL[,URL2] --group NAME --token-file PATH [options]
       sluice gateway --config sluice.yaml [options]

A data plane only: opens the stream listeners of its gateway group's published config.

  --control-plane URLS  control-plane admin URLs, comma-separated (env SLUICE_CONTROL_PLANE)
  --group NAME          gateway group name or id (env SLUICE_GATEWAY_GROUP, default "default")
  --token-file PATH     a file holding the group's gateway token (or env SLUICE_GATEWAY_TOKEN)
  --token TOKEN         the token itself (deprecated: shown by ps; warns)
  --config FILE         standalone: serve a declarative (ADC-format) file, reloaded on change
  --data-dir DIR        config cache and instance id (env SLUICE_DATA_DIR, default ./data)
  --status-addr ADDR    /healthz /readyz /metrics (env SLUICE_STATUS_ADDR, default 127.0.0.1:9091)
  --listen-addr ADDR    address for routes without server_addr (env SLUICE_LISTEN_ADDR, default 0.0.0.0)
  --reuse-port          share listen ports with other gateways (SO_REUSEPORT: Bun, Node >= 22.12)
  --drain-timeout SEC   how long removed routes' connections may finish (default 30)
  --max-connections N   TCP connections + UDP sessions at once (env SLUICE_MAX_CONNECTIONS, default from the fd limit)
  --runtime-adapter K   native | node-compat (default native)
  --workers N|auto      data-plane processes on the same ports, one per core with auto (env SLUICE_WORKERS, default 1)
  --log-level LEVEL     (env SLUICE_LOG_LEVEL, default info)
  --metrics-compat K    sluice | apisix: APISIX's metric names and labels (env SLUICE_METRICS_COMPAT, default sluice)
`;

export const gatewayCommand: CliCommand = {
  name: "gateway",
  help: GATEWAY_HELP,
  async run(argv, context) {
    await runGateway(argv, context);
    return undefined;
  },
};

async function runGateway(argv: string[], context: CommandContext): Promise<void> {
  const { edge, version: sluiceVersion } = context;
  const values = parseOptions(argv);
  const env = process.env;
  const controlPlanes = (values["control-plane"] ?? env.SLUICE_CONTROL_PLANE ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  const group = values.group ?? env.SLUICE_GATEWAY_GROUP ?? "default";
  const token = gatewayToken(values, env);
  const file = values.config;
  if (file && controlPlanes.length > 0) throw new UsageError("use either --config or --control-plane, not both");
  if (!file && controlPlanes.length === 0) {
    throw new UsageError("sluice gateway needs --control-plane URL (or SLUICE_CONTROL_PLANE), or --config FILE");
  }
  if (!file && !token)
    throw new UsageError(
      "sluice gateway needs --token-file PATH (or SLUICE_GATEWAY_TOKEN): issue one with POST /api/gateway_groups/:id/token",
    );
  for (const url of controlPlanes) {
    if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--control-plane: '${url}' is not an http(s) URL`);
  }
  const dataDir = values["data-dir"] ?? env.SLUICE_DATA_DIR ?? "./data";
  const settings = parseDataPlaneSettings(values, env);
  const { status, listenAddr } = settings;
  const logger = createLogger(settings.logLevel);

  const gateway = await openDataPlane({
    settings,
    edge,
    logger,
    gatewayGroup: file ? "standalone" : group,
    reusePort: values["reuse-port"] ?? env.SLUICE_REUSE_PORT === "true",
    metrics: gatewayMetricsOptions(context, env, settings.metricsCompat),
  });

  let sync: GatewaySync | undefined;
  let watcher: DeclarativeFileWatcher | undefined;
  let ready = false;
  let stopping = false;
  const statusServer = await edge.serveStatus(
    statusHandler({
      // not ready while shutting down: load balancers stop sending before the drain ends
      notReady: () =>
        stopping
          ? "shutting down"
          : !ready
            ? "no config applied yet"
            : gateway.serving()
              ? undefined
              : "not every worker serves the newest config yet",
      metricsText: () => gateway.metricsText(),
      metricsContentType: gateway.metricsContentType,
      status: () => ({
        mode: file ? "standalone" : "control-plane",
        gateway_group: file ? "standalone" : group,
        config_version: sync ? sync.appliedVersion : (gateway.status().version ?? -1),
        control_plane: sync?.connectedTo ?? null,
        config_error: sync?.lastError ?? null,
        adapter: gateway.adapterName,
        workers: gateway.workers,
        gateway: gateway.status(),
      }),
    }),
    status.host,
    status.port,
  );
  logger.info({ addr: statusServer.addr }, "status api listening");

  edge.onShutdownSignal(async (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "gateway stopping");
    watcher?.stop();
    await sync?.stop();
    await gateway.stop();
    await statusServer.close();
    edge.exit(0);
  });

  if (file) {
    const { DeclarativeFileWatcher } = await import("../../declarative/file-watcher.ts");
    const { DeclarativeError } = await import("../../declarative/file-format.ts");
    watcher = new DeclarativeFileWatcher(file, logger, async (config) => {
      await gateway.apply(config);
    });
    try {
      await watcher.start();
    } catch (error) {
      const problems = error instanceof DeclarativeError ? error.problems : [(error as Error).message];
      logger.error({ file, problems }, "config file invalid");
      throw new Error(`${file} is invalid:\n  ${problems.join("\n  ")}`);
    }
    ready = true;
    logger.info(
      {
        file,
        runtime: runtimeWithWorkers(`${edge.runtime} ${edge.runtimeVersion}`, gateway.workers),
        adapter: gateway.adapterName,
      },
      "standalone gateway started",
    );
    return;
  }

  const { GatewaySync } = await import("../../sync/gateway-sync.ts");
  const id = await loadInstanceId(dataDir);
  sync = new GatewaySync({
    controlPlanes,
    group,
    token,
    dataDir,
    dataPlane: gateway,
    logger,
    identity: {
      id,
      hostname: hostName(),
      address: advertisedAddress(listenAddr),
      runtime: runtimeWithWorkers(`${edge.runtime} ${edge.runtimeVersion}`, gateway.workers),
      sluice_version: sluiceVersion,
    },
  });
  sync.start();
  logger.info(
    { instance: id, gateway_group: group, control_planes: controlPlanes, adapter: gateway.adapterName },
    "gateway started",
  );
  void sync.ready.then(() => {
    ready = true;
  });
}

function parseOptions(argv: string[]) {
  return parseFlags(argv, {
    "control-plane": { type: "string" },
    group: { type: "string" },
    token: { type: "string" },
    "token-file": { type: "string" },
    config: { type: "string", short: "c" },
    "data-dir": { type: "string" },
    "reuse-port": { type: "boolean" },
    ...dataPlaneFlags,
  });
}
