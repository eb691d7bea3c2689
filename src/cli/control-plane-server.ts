/**
 * The control plane as `sluice start` and `sluice control-plane` both run it: storage (PGlite or
 * PostgreSQL, migrated), the admin key, and the admin API with the gateway-sync routes (config stream,
 * heartbeats, instances) and, on PostgreSQL, the cross-replica change channel.
 */
import { mkdir } from "node:fs/promises";
import { createAdminApp } from "../admin/app.ts";
import { createControlPlaneSync } from "../admin/control-plane-sync.ts";
import type { TrafficSource } from "../dashboard/traffic.ts";
import type { Logger } from "../observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../store/index.ts";
import { type Keyring, keyringFromEnvironment, loadOrCreateKeyringFile } from "../store/keyring.ts";
import type { CommandContext } from "./command.ts";
import { storageOptions } from "./storage-options.ts";

export interface ControlPlaneServerOptions {
  admin: { host: string; port: number };
  /** PGlite data when `DATABASE_URL` is unset */
  dataDir: string | undefined;
  /** seals certificate private keys at rest; without one, certificate writes are refused */
  keyring: Keyring | undefined;
  logger: Logger;
  context: CommandContext;
  env: Record<string, string | undefined>;
  /** the in-process gateway's metrics, for the dashboard's traffic charts (`sluice start`) */
  traffic?: TrafficSource;
  /** the gateway group the APISIX Admin API writes into */
  apisixGroup: string;
}

export interface ControlPlaneServer {
  readonly store: ControlPlaneStore;
  /** stops serving the admin API and the gateways' streams */
  closeApi(): Promise<void>;
  /** closes the storage; after `closeApi` and after anything else that reads the store has stopped */
  closeStorage(): Promise<void>;
}

export async function startControlPlaneServer(options: ControlPlaneServerOptions): Promise<ControlPlaneServer> {
  const { logger, context, env } = options;
  const store = await openStore(storageOptions(options.dataDir, env, logger), { keyring: options.keyring });
  logger.info({ storage: store.database.description, version: context.version }, "storage ready");
  const sync = createControlPlaneSync(store, logger);
  try {
    const keys = await store.adminKeys.setup(env.SLUICE_ADMIN_KEY);
    if (keys.generated) {
      // the only time this key is ever visible (only its hash is stored). It goes to stderr as plain
      // text, outside the JSON log on stdout that collectors ship; see docs/security.md
      process.stderr.write(`sluice: generated admin API key (shown only this once, keep it): ${keys.generated}\n`);
      logger.warn("generated an admin API key; it was printed once on stderr, outside this log");
    }
    await sync
      .start()
      .catch((error: Error) =>
        logger.error({ reason: error.message }, "could not listen for other replicas' config changes"),
      );
    const admin = createAdminApp({
      store,
      logger,
      version: context.version,
      extraRoutes: sync.routes,
      traffic: options.traffic,
      apisixGroup: options.apisixGroup,
    });
    const server = await context.edge.serveHttp(admin.fetch, options.admin.host, options.admin.port);
    logger.info({ addr: server.addr }, "admin api listening");
    return {
      store,
      async closeApi() {
        await server.close();
        await sync.stop();
      },
      closeStorage: () => store.close(),
    };
  } catch (error) {
    await sync.stop().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}

/**
 * `sluice start`'s keyring: the configured one when SLUICE_KEYRING or SLUICE_KEYRING_FILE is set, else
 * the 0600 file `keyring` in the data directory, created on the first start. `sluice control-plane`
 * replicas share one database and so must share its keyring: theirs comes from configuration only.
 */
export async function startKeyring(
  dataDir: string | undefined,
  env: Record<string, string | undefined>,
): Promise<Keyring> {
  if (env.SLUICE_KEYRING?.trim() || env.SLUICE_KEYRING_FILE?.trim()) return keyringFromEnvironment(env);
  const dir = dataDir ?? "./data";
  await mkdir(dir, { recursive: true });
  return (await loadOrCreateKeyringFile(dir)).keyring;
}
