/**
 * `/readyz` follows storage (issue 12, finding 11): a control plane whose PostgreSQL refuses connections
 * answers 503 with the reason while `/healthz` (liveness) stays 200, and is ready again once the database
 * takes connections. Real PostgreSQL: a fresh database per process, made to refuse by terminating the
 * process's connections and `ALTER DATABASE … ALLOW_CONNECTIONS false`.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { freshDatabase, PG_URL, type SluiceProcess, sluice, stopAll, waitReady } from "../fixtures/processes.ts";
import { waitFor } from "../fixtures/wait.ts";

const pg = postgres(PG_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
after(async () => {
  await stopAll();
  await pg.end({ timeout: 5 });
});

async function probe(status: string, path: string): Promise<{ code: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://${status}${path}`);
  return { code: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** the database stops taking connections and loses the ones it had */
async function refuse(name: string): Promise<void> {
  await pg.unsafe(`alter database ${name} allow_connections false`);
  await pg`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
}

async function readinessFollowsStorage(proc: SluiceProcess, databaseUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const status = await proc.addr("status api listening");
  await waitReady(status);
  assert.equal((await probe(status, "/readyz")).code, 200);

  await refuse(name);
  let last = { code: 0, body: {} as Record<string, unknown> };
  await waitFor(
    "/readyz 503 while PostgreSQL refuses",
    async () => {
      last = await probe(status, "/readyz");
      return last.code === 503;
    },
    15_000,
  );
  assert.equal(last.body.ready, false);
  assert.match(String(last.body.reason), /storage unreachable: .*not currently accepting connections/);
  const health = await probe(status, "/healthz");
  assert.equal(health.code, 200, "liveness does not depend on storage");
  assert.deepEqual(health.body, { status: "ok" });

  await pg.unsafe(`alter database ${name} allow_connections true`);
  await waitFor(
    "/readyz 200 once PostgreSQL takes connections",
    async () => (await probe(status, "/readyz")).code === 200,
    15_000,
  );
  assert.equal((await probe(status, "/readyz")).body.ready, true);
}

test("sluice control-plane: /readyz 503 with the reason while PostgreSQL refuses connections, /healthz 200, ready again after", async () => {
  const db = await freshDatabase();
  try {
    const proc = sluice(["control-plane", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"], {
      DATABASE_URL: db.url,
    });
    await readinessFollowsStorage(proc, db.url);
    await proc.stop();
  } finally {
    await pg.unsafe(`alter database ${new URL(db.url).pathname.slice(1)} allow_connections true`).catch(() => {});
    await db.drop();
  }
});

test("sluice start on PostgreSQL: /readyz follows storage the same way", async () => {
  const db = await freshDatabase();
  const dir = await mkdtemp(join(tmpdir(), "sluice-readiness-"));
  try {
    const proc = sluice(
      [
        "start",
        ...["--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0", "--listen-addr", "127.0.0.1"],
        ...["--data-dir", dir],
      ],
      { DATABASE_URL: db.url },
    );
    await readinessFollowsStorage(proc, db.url);
    await proc.stop();
  } finally {
    await pg.unsafe(`alter database ${new URL(db.url).pathname.slice(1)} allow_connections true`).catch(() => {});
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("sluice gateway: /readyz 503 with the reason until it serves a config, /healthz 200", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-readiness-"));
  try {
    // a control plane that is not there and no cached config: nothing to serve
    const proc = sluice(
      ["gateway", "--control-plane", "http://127.0.0.1:1", "--data-dir", dir, "--status-addr", "127.0.0.1:0"],
      { SLUICE_GATEWAY_TOKEN: "gt_readiness-0123456789" },
    );
    const status = await proc.addr("status api listening");
    const ready = await probe(status, "/readyz");
    assert.equal(ready.code, 503);
    assert.equal(ready.body.reason, "no config applied yet");
    assert.equal((await probe(status, "/healthz")).code, 200);
    await proc.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
