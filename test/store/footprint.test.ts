/**
 * The embedded database runs with the small-footprint settings (PGLITE_SETTINGS), on a fresh data dir and
 * again after a reopen, and a data dir's own postgresql.conf is left as initdb wrote it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { openDatabase, PGLITE_SETTINGS } from "../../src/store/database.ts";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-footprint-"));
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function settingsOf(dir: string): Promise<Record<string, string>> {
  const database = await openDatabase({ dataDir: dir });
  try {
    const shown: Record<string, string> = {};
    for (const name of Object.keys(PGLITE_SETTINGS)) {
      const result = (await database.db.execute(sql.raw(`SHOW ${name}`))) as unknown as {
        rows: Record<string, string>[];
      };
      shown[name] = Object.values(result.rows[0]!)[0]!;
    }
    return shown;
  } finally {
    await database.close();
  }
}

describe("PGlite footprint settings", () => {
  it("a fresh data dir runs with shared_buffers and the other settings as configured", async () => {
    const shown = await settingsOf(dataDir);
    assert.equal(shown.shared_buffers, "8MB");
    assert.deepEqual(shown, PGLITE_SETTINGS);
  });

  it("a reopened data dir runs with them too, and its postgresql.conf keeps initdb's defaults", async () => {
    const shown = await settingsOf(dataDir);
    assert.deepEqual(shown, PGLITE_SETTINGS);
    const conf = readFileSync(join(dataDir, "postgresql.conf"), "utf8");
    assert.match(conf, /^shared_buffers = 128MB/m, "the settings come from the command line, not the file");
  });
});
