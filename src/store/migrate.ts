/**
 * Applies the committed Drizzle migrations (`drizzle/*.sql`, listed in `drizzle/meta/_journal.json`).
 *
 * Why not drizzle's own migrators: there is one per driver, and they take no lock, so two control-plane
 * replicas starting on one fresh database race on CREATE TABLE. Here every run is one transaction that
 * first takes a transaction-scoped advisory lock: a second process waits, then sees the migrations as
 * applied. The files are read with plain fs, which Node, Bun and Deno all provide.
 */
import { readFile } from "node:fs/promises";
import { sql } from "drizzle-orm";
import type { Db } from "./database.ts";

/** an arbitrary constant that names "sluice schema migration" among advisory locks */
const MIGRATION_LOCK_ID = 7_314_420_001;

export const MIGRATIONS_DIR = new URL("../../drizzle/", import.meta.url);

interface Journal {
  entries: Array<{ idx: number; tag: string }>;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export async function migrate(db: Db, dir: URL = MIGRATIONS_DIR): Promise<MigrationResult> {
  const journal = JSON.parse(await readFile(new URL("meta/_journal.json", dir), "utf8")) as Journal;
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  // the common case, a start on a current schema: two reads instead of a locked write transaction (on
  // PGlite the transaction's commit costs ~100 ms of a start). Migrations only ever add, so "every tag is
  // recorded" stays true once seen.
  const recorded = await recordedTags(db);
  if (recorded && entries.every((e) => recorded.has(e.tag))) return { applied: [], alreadyApplied: recorded.size };
  const files = await Promise.all(
    entries.map(async (e) => ({ tag: e.tag, text: await readFile(new URL(`${e.tag}.sql`, dir), "utf8") })),
  );
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`);
    await tx.execute(
      sql.raw(
        "create table if not exists sluice_migrations (tag text primary key, applied_at timestamptz not null default now())",
      ),
    );
    const done = new Set(
      rowsOf<{ tag: string }>(await tx.execute(sql.raw("select tag from sluice_migrations"))).map((r) => r.tag),
    );
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file.tag)) continue;
      for (const statement of file.text.split("--> statement-breakpoint")) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(sql`insert into sluice_migrations (tag) values (${file.tag})`);
      applied.push(file.tag);
    }
    return { applied, alreadyApplied: done.size };
  });
}

/** the tags in sluice_migrations, or undefined when there is no such table yet */
async function recordedTags(db: Db): Promise<Set<string> | undefined> {
  const [table] = rowsOf<{ present: boolean }>(
    await db.execute(sql.raw("select to_regclass('sluice_migrations') is not null as present")),
  );
  if (!table?.present) return undefined;
  return new Set(
    rowsOf<{ tag: string }>(await db.execute(sql.raw("select tag from sluice_migrations"))).map((r) => r.tag),
  );
}

/** PGlite answers `{ rows }`, postgres.js an array of rows */
function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
