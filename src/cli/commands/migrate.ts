/** `sluice migrate`: apply the schema migrations and exit (what `start` also does on its own). */
import { createLogger } from "../../observability/logger.ts";
import { openDatabase } from "../../store/database.ts";
import { migrate } from "../../store/migrate.ts";
import { type CliCommand, parseFlags } from "../command.ts";
import { storageOptions } from "../storage-options.ts";

export const MIGRATE_HELP = `Usage: sluice migrate [options]

Applies the database migrations (under an advisory lock, so concurrent runs are safe) and exits.

  --data-dir DIR     PGlite data when DATABASE_URL is unset (env SLUICE_DATA_DIR, default ./data)
  --log-level LEVEL  (env SLUICE_LOG_LEVEL, default info)
  -h, --help         this text

Environment: DATABASE_URL=postgres://… migrates a PostgreSQL server instead.
`;

export const migrateCommand: CliCommand = {
  name: "migrate",
  help: MIGRATE_HELP,
  async run(argv) {
    const values = parseFlags(argv, { "data-dir": { type: "string" }, "log-level": { type: "string" } });
    const logger = createLogger(values["log-level"] ?? process.env.SLUICE_LOG_LEVEL ?? "info");
    const database = await openDatabase(storageOptions(values["data-dir"], process.env));
    try {
      const result = await migrate(database.db);
      logger.info(
        { storage: database.description, applied: result.applied, already_applied: result.alreadyApplied },
        result.applied.length ? "migrations applied" : "database is up to date",
      );
      return 0;
    } finally {
      await database.close();
    }
  },
};
