/** Where the control plane's data lives: `DATABASE_URL` (PostgreSQL) or else PGlite in the data dir. */
import type { Logger } from "../observability/logger.ts";
import type { StorageOptions } from "../store/database.ts";

/** `SLUICE_DB_CONNECT_TIMEOUT` (seconds per attempt) and `SLUICE_DB_CONNECT_ATTEMPTS` bound the wait for PostgreSQL */
export function storageOptions(
  dataDir: string | undefined,
  env: Record<string, string | undefined>,
  logger?: Logger,
): StorageOptions {
  if (env.DATABASE_URL) {
    return {
      databaseUrl: env.DATABASE_URL,
      connectTimeoutSeconds: positive(env.SLUICE_DB_CONNECT_TIMEOUT, "SLUICE_DB_CONNECT_TIMEOUT") ?? 10,
      connectAttempts: positive(env.SLUICE_DB_CONNECT_ATTEMPTS, "SLUICE_DB_CONNECT_ATTEMPTS") ?? 3,
      onConnectAttempt: (e) =>
        e.error === undefined
          ? logger?.info({ storage: e.target, attempt: e.attempt, of: e.of }, "connecting to PostgreSQL")
          : logger?.warn(
              { storage: e.target, attempt: e.attempt, of: e.of, reason: e.error },
              "PostgreSQL connection attempt failed",
            ),
    };
  }
  return {
    dataDir: dataDir ?? env.SLUICE_DATA_DIR ?? "./data",
    onFreshDataDir: (e) =>
      e.from === "template"
        ? logger?.info({ ms: e.ms }, "new data dir made from the build's template")
        : logger?.warn({ ms: e.ms, reason: e.reason }, "new data dir made by initdb (slower start)"),
  };
}

function positive(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new Error(`${name} must be a whole number from 1 to 3600`);
  return n;
}
