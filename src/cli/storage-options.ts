/** Where the control plane's data lives: `DATABASE_URL` (PostgreSQL) or else PGlite in the data dir. */
import type { StorageOptions } from "../store/database.ts";

export function storageOptions(dataDir: string | undefined, env: Record<string, string | undefined>): StorageOptions {
  if (env.DATABASE_URL) return { databaseUrl: env.DATABASE_URL };
  return { dataDir: dataDir ?? env.SLUICE_DATA_DIR ?? "./data" };
}
