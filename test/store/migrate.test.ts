/** Migrations: concurrent runs on one fresh PostgreSQL database, re-runs, and PGlite data surviving a restart. */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import postgres from "postgres";
import { openDatabase } from "../../src/store/database.ts";
import { openStore } from "../../src/store/index.ts";
import { migrate } from "../../src/store/migrate.ts";
import { type Backend, pgliteBackend, postgresBackend } from "../admin/fixtures/backends.ts";

const disposers: Array<() => Promise<void>> = [];
after(async () => {
  for (const d of disposers.reverse()) await d();
});

describe("migrations", () => {
  it("two connections migrating one fresh PostgreSQL database at once both succeed, once", async () => {
    const backend: Backend = await postgresBackend();
    disposers.push(() => backend.dispose());
    const a = await openDatabase(backend.options);
    const b = await openDatabase(backend.options);
    try {
      const [ra, rb] = await Promise.all([migrate(a.db), migrate(b.db)]);
      const applied = [ra.applied.length, rb.applied.length].sort();
      assert.equal(applied[0], 0, "the second run found everything applied");
      assert.ok(applied[1]! >= 1, "the first run applied the migrations");
      const again = await migrate(a.db);
      assert.deepEqual(again.applied, []);
      const sql = postgres(backend.url!, { max: 1 });
      try {
        const rows = await sql`select count(*)::int as n from sluice_migrations`;
        assert.equal(rows[0]!.n, applied[1]);
        const tables =
          await sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`;
        const names = tables.map((t) => t.table_name as string);
        for (const t of [
          "admin_keys",
          "gateway_groups",
          "published_services",
          "service_versions",
          "services",
          "stream_routes",
        ]) {
          assert.ok(names.includes(t), `table ${t}`);
        }
      } finally {
        await sql.end({ timeout: 1 });
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("PGlite keeps its data in the data dir across restarts", async () => {
    const backend = await pgliteBackend();
    disposers.push(() => backend.dispose());
    const first = await openStore(backend.options);
    const created = await first.services.create({ name: "kept", type: "stream" });
    await first.close();
    const second = await openStore(backend.options);
    try {
      const found = await second.services.get(created.id);
      assert.equal(found.name, "kept");
      assert.equal((await second.groups.get("default")).name, "default");
    } finally {
      await second.close();
    }
  });
});

describe("admin keys", () => {
  it("replicas starting together on a fresh database generate one key that all of them accept", async () => {
    const backend = await postgresBackend();
    disposers.push(() => backend.dispose());
    const a = await openStore(backend.options);
    const b = await openStore(backend.options);
    try {
      const [sa, sb] = await Promise.all([a.adminKeys.setup(undefined), b.adminKeys.setup(undefined)]);
      const generated = [sa.generated, sb.generated].filter((k) => k !== undefined);
      assert.equal(generated.length, 1, "exactly one replica generated (and printed) a key");
      assert.equal(a.adminKeys.verify(generated[0]), true);
      assert.equal(b.adminKeys.verify(generated[0]), true);
      assert.equal(a.adminKeys.verify("not-the-key"), false);
      const later = await a.adminKeys.setup(undefined);
      assert.equal(later.generated, undefined, "a restart does not generate another");
      const env = await a.adminKeys.setup("from-env-admin-key-0123456789");
      assert.equal(env.source, "env");
      assert.equal(a.adminKeys.verify("from-env-admin-key-0123456789"), true);
      assert.equal(a.adminKeys.verify(generated[0]), false, "SLUICE_ADMIN_KEY is the only key accepted when set");
    } finally {
      await a.close();
      await b.close();
    }
  });
});
