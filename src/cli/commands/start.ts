/**
 * `sluice start`: everything in one process: storage (PGlite or PostgreSQL), migrations, the admin API,
 * the status server and, once the lead plugs it in through `StartHooks.dataPlane`, the gateway of group
 * `default`.
 */
import { mkdir } from "node:fs/promises";
import { register } from "prom-client";
import { type AdminAppOptions, createAdminApp } from "../../admin/app.ts";
import { createLogger, type Logger } from "../../observability/logger.ts";
import { DEFAULT_GROUP_ID } from "../../store/gateway-groups.ts";
import { type ControlPlaneStore, openStore } from "../../store/index.ts";
import { type Keyring, keyringFromEnvironment, loadOrCreateKeyringFile } from "../../store/keyring.ts";
import { gatewayStatusApp } from "../../sync/gateway-status-app.ts";
import { parseHostPort } from "../addresses.ts";
import { type CliCommand, type CommandContext, parseFlags } from "../command.ts";
import { type AttachedDataPlane, attachDataPlane, type DataPlane } from "../data-plane.ts";
import { type DataPlaneSettings, dataPlaneFlags, parseDataPlaneSettings } from "../data-plane-settings.ts";
import type { HttpServerHandle } from "../runtime-edge.ts";
import { storageOptions } from "../storage-options.ts";

export const START_HELP = `Usage: sluice start [options]

All in one process: admin API, control plane storage and (soon) a gateway in group "default".

  --admin-addr ADDR       admin API (env SLUICE_ADMIN_ADDR, default 127.0.0.1:9180; port 0 = any free port)
  --status-addr ADDR      /healthz /readyz /metrics (env SLUICE_STATUS_ADDR, default 127.0.0.1:9091)
  --data-dir DIR          PGlite data when DATABASE_URL is unset (env SLUICE_DATA_DIR, default ./data)
  --listen-addr ADDR      address for routes without server_addr (env SLUICE_LISTEN_ADDR, default 0.0.0.0)
  --drain-timeout SEC     how long removed routes' connections may finish (env SLUICE_DRAIN_TIMEOUT, default 30)
  --runtime-adapter KIND  native | node-compat (env SLUICE_RUNTIME_ADAPTER, default native)
  --log-level LEVEL       trace debug info warn error (env SLUICE_LOG_LEVEL, default info)
  -h, --help              this text

Environment: DATABASE_URL=postgres://… uses a PostgreSQL server instead of PGlite;
SLUICE_ADMIN_KEY sets the admin key (otherwise one is generated on the first start and printed once);
SLUICE_KEYRING / SLUICE_KEYRING_FILE the keys that encrypt private keys at rest (otherwise the file
'keyring' in the data dir, created on the first start).
`;

export interface StartSettings extends DataPlaneSettings {
  admin: { host: string; port: number };
  dataDir: string | undefined;
}

/** what the in-process gateway gets to build itself */
export interface DataPlaneContext {
  settings: StartSettings;
  context: CommandContext;
  logger: Logger;
  store: ControlPlaneStore;
}

export interface StartHooks {
  /** builds the in-process gateway; absent = admin API only */
  dataPlane?: (ctx: DataPlaneContext) => Promise<DataPlane>;
  /** more routes for the admin server: gateway-facing (own auth) and admin (behind the key) */
  extraRoutes?: (ctx: DataPlaneContext) => Pick<AdminAppOptions, "extraRoutes">;
  /** the keyring that seals private keys; default `startKeyring` */
  keyring?: (settings: StartSettings, env: Record<string, string | undefined>) => Promise<Keyring>;
}

/**
 * `sluice start`'s keyring: the configured one when SLUICE_KEYRING or SLUICE_KEYRING_FILE is set, else
 * the 0600 file `keyring` in the data directory, created on the first start
 */
export async function startKeyring(settings: StartSettings, env: Record<string, string | undefined>): Promise<Keyring> {
  if (env.SLUICE_KEYRING?.trim() || env.SLUICE_KEYRING_FILE?.trim()) return keyringFromEnvironment(env);
  const dataDir = settings.dataDir ?? "./data";
  await mkdir(dataDir, { recursive: true });
  return (await loadOrCreateKeyringFile(dataDir)).keyring;
}

export function parseStartArgs(argv: string[], env: Record<string, string | undefined>): StartSettings {
  const values = parseFlags(argv, {
    ...dataPlaneFlags,
    "admin-addr": { type: "string" },
    "data-dir": { type: "string" },
  });
  return {
    ...parseDataPlaneSettings(values, env),
    admin: parseHostPort(values["admin-addr"] ?? env.SLUICE_ADMIN_ADDR ?? "127.0.0.1:9180", "--admin-addr"),
    dataDir: values["data-dir"] ?? env.SLUICE_DATA_DIR,
  };
}

export function startCommand(hooks: StartHooks = {}): CliCommand {
  return {
    name: "start",
    summary: "admin API, control plane and gateway in one process (the default)",
    help: START_HELP,
    async run(argv, context) {
      const env = process.env;
      const settings = parseStartArgs(argv, env);
      await startAll(settings, context, hooks, env);
      return undefined;
    },
  };
}

async function startAll(
  settings: StartSettings,
  context: CommandContext,
  hooks: StartHooks,
  env: Record<string, string | undefined>,
): Promise<void> {
  const { edge } = context;
  const logger = createLogger(settings.logLevel);
  const storage = storageOptions(settings.dataDir, env);
  const keyring = await (hooks.keyring ?? startKeyring)(settings, env);
  const store = await openStore(storage, { keyring });
  logger.info({ storage: store.database.description, version: context.version }, "storage ready");

  const keys = await store.adminKeys.setup(env.SLUICE_ADMIN_KEY);
  if (keys.generated) {
    // the only time this key is ever visible: only its hash is stored
    logger.warn({ admin_key: keys.generated }, "generated an admin API key; it is shown only this once, keep it");
  }

  const hookContext: DataPlaneContext = { settings, context, logger, store };
  let dataPlane: DataPlane | undefined;
  let attached: AttachedDataPlane | undefined;
  const servers: HttpServerHandle[] = [];
  let adminUp = false;
  let stopping = false;

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // stop accepting first, then let the data plane drain, then close storage
    await Promise.allSettled(servers.map((s) => s.close()));
    attached?.detach();
    if (dataPlane)
      await dataPlane.stop().catch((e: Error) => logger.error({ reason: e.message }, "data plane stop failed"));
    await store.close().catch((e: Error) => logger.error({ reason: e.message }, "storage close failed"));
    logger.info("stopped");
    edge.exit(0);
  };
  edge.onShutdownSignal((signal) => void shutdown(signal));

  try {
    const extra = hooks.extraRoutes?.(hookContext) ?? {};
    const admin = createAdminApp({ store, logger, version: context.version, ...extra });
    const adminServer = await edge.serveHttp(admin.fetch, settings.admin.host, settings.admin.port);
    servers.push(adminServer);
    adminUp = true;
    logger.info({ addr: adminServer.addr }, "admin api listening");

    if (hooks.dataPlane) {
      dataPlane = await hooks.dataPlane(hookContext);
      attached = attachDataPlane(store.feed, store.groups, DEFAULT_GROUP_ID, dataPlane, logger);
    }
    const plane = dataPlane;
    const status = gatewayStatusApp({
      ready: () => adminUp && !stopping && (attached ? attached.ready() : true),
      status: () => ({
        admin: adminUp,
        storage: store.database.kind,
        config_version: attached?.appliedVersion() ?? null,
        data_plane: plane ? plane.status() : null,
      }),
      metricsText: plane ? () => plane.metricsText() : () => register.metrics(),
    });
    const statusServer = await edge.serveHttp(status.fetch, settings.status.host, settings.status.port);
    servers.push(statusServer);
    logger.info({ addr: statusServer.addr }, "status api listening");
  } catch (error) {
    await Promise.allSettled(servers.map((s) => s.close()));
    await store.close().catch(() => {});
    throw error;
  }
}
