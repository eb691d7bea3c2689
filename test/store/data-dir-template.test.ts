/**
 * A fresh PGlite data dir is unpacked from the build's template (dist/pgdata-template.tar.gz, made by `npm ci`'s
 * `prepare`) instead of running initdb: it must be a working, private, migrated database, and a template that
 * is missing or that PGlite cannot open must fall back to initdb, saying why.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { sql } from "drizzle-orm";
import { DATA_DIR_TEMPLATE, packDataDir, unpackDataDir } from "../../src/store/data-dir-template.ts";
import { type FreshDataDir, openDatabase } from "../../src/store/database.ts";
import { migrate } from "../../src/store/migrate.ts";

const JOURNAL = JSON.parse(await readFile(new URL("../../drizzle/meta/_journal.json", import.meta.url), "utf8")) as {
  entries: unknown[];
};

async function modes(path: string, out: Array<[string, number]> = []): Promise<Array<[string, number]>> {
  out.push([path, (await stat(path)).mode & 0o777]);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await modes(child, out);
    else if (entry.isFile()) out.push([child, (await stat(child)).mode & 0o777]);
  }
  return out;
}

/** opens the fresh `dataDir`, records how it was made, and checks it is a working, migrated, private database */
async function openFresh(dataDir: string, template?: URL): Promise<FreshDataDir> {
  const events: FreshDataDir[] = [];
  const database = await openDatabase({ dataDir, template, onFreshDataDir: (e) => events.push(e) });
  try {
    const result = await migrate(database.db);
    assert.equal(result.alreadyApplied + result.applied.length, JOURNAL.entries.length);
    await database.db.execute(sql.raw("create table probe (note text)"));
    await database.db.execute(sql.raw("insert into probe values ('kept')"));
  } finally {
    await database.close();
  }
  const again = await openDatabase({ dataDir });
  try {
    const rows = (await again.db.execute(sql.raw("select note from probe"))) as unknown as { rows: unknown[] };
    assert.deepEqual(rows.rows, [{ note: "kept" }], "a write survives closing and reopening the data dir");
  } finally {
    await again.close();
  }
  const open = (await modes(dataDir)).filter(([, mode]) => mode & 0o077);
  assert.deepEqual(open.slice(0, 5), [], `${open.length} entries readable or writable by others`);
  assert.equal(events.length, 1, "one fresh data dir event");
  return events[0]!;
}

describe("fresh data dir from the build's template", () => {
  const dirs: string[] = [];
  const previous = process.umask();
  after(async () => {
    process.umask(previous);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const scratch = async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-template-"));
    dirs.push(dir);
    return dir;
  };

  it("unpacks the template (no initdb) into a private data dir already migrated to the current schema", async () => {
    assert.ok(existsSync(DATA_DIR_TEMPLATE), `${DATA_DIR_TEMPLATE.pathname} is missing: npm ci (prepare) builds it`);
    process.umask(0o022);
    const dataDir = join(await scratch(), "data");
    const events: FreshDataDir[] = [];
    const database = await openDatabase({ dataDir, onFreshDataDir: (e) => events.push(e) });
    const result = await migrate(database.db);
    await database.close();
    assert.equal(events[0]?.from, "template");
    assert.deepEqual(result.applied, [], "the template carries every migration");
    assert.equal(result.alreadyApplied, JOURNAL.entries.length);
    const all = await modes(dataDir);
    assert.ok(all.length > 100, `a PGlite data dir has many files (${all.length})`);
    assert.deepEqual(all.filter(([, mode]) => mode & 0o077).slice(0, 5), [], "dir 0700 and files 0600 under umask 022");
    assert.equal((await openFresh(join(await scratch(), "data"))).from, "template");
  });

  it("falls back to initdb, saying why, when the template is missing", async () => {
    const dir = await scratch();
    const event = await openFresh(join(dir, "data"), pathToFileURL(join(dir, "no-such-template.tar.gz")));
    assert.equal(event.from, "initdb");
    assert.match(event.from === "initdb" ? event.reason : "", /no data dir template/);
  });

  it("falls back to initdb when PGlite cannot open the template's data dir, and removes what it unpacked", async () => {
    const dir = await scratch();
    // a data dir of another PostgreSQL major version: what a template from another PGlite release looks like
    const other = join(dir, "other");
    await mkdir(other, { mode: 0o700 });
    await unpackDataDir(await readFile(DATA_DIR_TEMPLATE), other);
    await writeFile(join(other, "PG_VERSION"), "99\n");
    const template = join(dir, "other.tar.gz");
    await writeFile(template, await packDataDir(other));
    // a data dir the operator made beforehand, with a file of theirs in it
    const dataDir = join(dir, "data");
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dataDir, "README"), "kept");
    const event = await openFresh(dataDir, pathToFileURL(template));
    assert.equal(event.from, "initdb");
    assert.match(event.from === "initdb" ? event.reason : "", /could not open the data dir template/);
    assert.equal(await readFile(join(dataDir, "README"), "utf8"), "kept");
  });

  it("refuses a corrupt or truncated archive without writing a database", async () => {
    const dir = await scratch();
    const archive = await readFile(DATA_DIR_TEMPLATE);
    await assert.rejects(unpackDataDir(archive.subarray(0, archive.length >> 1), dir), /unexpected end/);
    // a whole gzip stream of half a tar: the files it has are written, but never PG_VERSION
    const tar = gunzipSync(archive);
    await assert.rejects(unpackDataDir(gzipSync(tar.subarray(0, (tar.length >> 10) << 9)), dir), /template/);
    assert.ok((await readdir(dir)).length > 0, "some files were written");
    assert.equal(existsSync(join(dir, "PG_VERSION")), false, "PG_VERSION is written last");
    await assert.rejects(unpackDataDir(Buffer.from("not a gzipped tar"), dir));
  });
});
