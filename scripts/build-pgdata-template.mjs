#!/usr/bin/env node
/**
 * Builds dist/pgdata-template.tar.gz: a PGlite data dir, initdb'ed and migrated to the current schema, that
 * `sluice start` unpacks into a fresh data dir instead of running initdb at start (src/store/data-dir-template.ts).
 * Run by `prepare` (npm ci) and, with --if-stale, by `prestart`; scripts/build-binary.sh embeds the result.
 * Its inputs are PGlite's version, the migrations and the code that opens, migrates and packs the database:
 * when none is newer than the template, --if-stale returns without loading TypeScript at all.
 *
 * Usage: node scripts/build-pgdata-template.mjs [--if-stale]
 */
import { chmodSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(root, "dist/pgdata-template.tar.gz");

function inputs() {
  const drizzle = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? drizzle(join(dir, e.name)) : [join(dir, e.name)],
    );
  return [
    fileURLToPath(import.meta.url),
    join(root, "node_modules/@electric-sql/pglite/package.json"),
    join(root, "src/store/database.ts"),
    join(root, "src/store/migrate.ts"),
    join(root, "src/store/data-dir-template.ts"),
    ...drizzle(join(root, "drizzle")),
  ];
}

function upToDate() {
  try {
    const built = statSync(outfile).mtimeMs;
    return inputs().every((path) => statSync(path).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (process.argv.includes("--if-stale") && upToDate()) process.exit(0);

const started = Date.now();
const { tsImport } = await import("tsx/esm/api");
const load = (path) => tsImport(join(root, path), import.meta.url);
const { openDatabase } = await load("src/store/database.ts");
const { migrate } = await load("src/store/migrate.ts");
const { packDataDir } = await load("src/store/data-dir-template.ts");

const work = mkdtempSync(join(tmpdir(), "sluice-pgdata-template-"));
try {
  const dataDir = join(work, "data");
  const database = await openDatabase({ dataDir, template: false });
  try {
    await migrate(database.db);
  } finally {
    await database.close();
  }
  const archive = await packDataDir(dataDir);
  // written beside, then renamed: a start never reads a half-written template
  const partial = `${outfile}.${process.pid}.partial`;
  writeFileSync(partial, archive);
  // readable by every user who runs this installation (the database above set the umask to 077)
  chmodSync(partial, 0o644);
  renameSync(partial, outfile);
  process.stderr.write(
    `built ${relative(process.cwd(), outfile)} (${(archive.length / 2 ** 20).toFixed(1)} MiB) in ${Date.now() - started} ms\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
