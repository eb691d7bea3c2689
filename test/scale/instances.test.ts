/**
 * Gateway instances on a real PostgreSQL database (fresh per run): heartbeats create and update an
 * instance, statuses follow API7 (healthy; lost_connection after 30 s; offline after 2 h) and instances
 * silent for 7 days are removed; the admin route lists them as `{list, total}`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { mountRoutes } from "../../src/admin/api-routes.ts";
import { errorResponse } from "../../src/admin/errors.ts";
import { instanceRoutes } from "../../src/admin/instances.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { DbInstanceRegistry } from "../../src/store/instances.ts";
import type { InstanceRegistry } from "../../src/sync/instances.ts";
import { freshDatabase } from "../fixtures/processes.ts";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: ControlPlaneStore;

before(async () => {
  db = await freshDatabase();
  store = await openStore({ databaseUrl: db.url });
});

after(async () => {
  await store?.close();
  await db?.drop();
});

/** the admin routes on their own (no admin key), with the admin API's error answers */
function routesApp(registry: InstanceRegistry): Hono {
  const app = new Hono();
  mountRoutes(app, instanceRoutes(store, registry));
  app.onError((error, c) => errorResponse(error, c, createLogger("silent")));
  return app;
}

const beat = (id: string, version: number) => ({
  id,
  hostname: `host-${id}`,
  address: "10.0.0.1",
  runtime: "node 20",
  sluice_version: "0.1.0",
  config_version: version,
  config_error: null,
  listeners: [{ protocol: "tcp", addr: "0.0.0.0:9101", state: "listening" }],
  health: {},
  active_connections: 2,
});

test("heartbeats, statuses and removal", async () => {
  const registry = new DbInstanceRegistry(store.database.db);
  const group = (await store.groups.resolve("default"))!;
  await registry.hello(group.id, {
    id: "a",
    hostname: "host-a",
    runtime: "node 20",
    sluice_version: "0.1.0",
    address: "",
  });
  await registry.heartbeat(group.id, beat("a", 3));
  await registry.heartbeat(group.id, beat("b", 3));
  await registry.heartbeat(group.id, beat("c", 2));
  await registry.heartbeat(group.id, beat("d", 1));
  await registry.heartbeat(group.id, beat("a", 4));

  const age = async (id: string, seconds: number) =>
    store.database.db.execute(
      sql`update gateway_instances set last_heartbeat_at = now() - make_interval(secs => ${seconds}) where id = ${id}`,
    );
  await age("b", 31);
  await age("c", 2 * 3600 + 5);
  await age("d", 7 * 24 * 3600 + 5);

  const app = routesApp(registry);
  const res = await app.request(`/api/gateway_groups/${group.id}/instances`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { list: { id: string; status: string; config_version: number }[]; total: number };
  assert.equal(body.total, 3, "the instance silent for 7 days is gone");
  const byId = Object.fromEntries(body.list.map((i) => [i.id, i]));
  assert.equal(byId.a?.status, "healthy");
  assert.equal(byId.a?.config_version, 4, "the latest heartbeat wins");
  assert.equal(byId.b?.status, "lost_connection");
  assert.equal(byId.c?.status, "offline");
  assert.equal(byId.d, undefined);

  assert.equal((await app.request("/api/gateway_groups/no-such-group/instances")).status, 404);
  const badPage = await app.request(`/api/gateway_groups/${group.id}/instances?page=0`);
  assert.equal(badPage.status, 400, "a bad page is refused as on every list, not clamped");
  assert.match(((await badPage.json()) as { error_msg: string }).error_msg, /"page"/);
});

test("healthcheck: node health as the group's live gateways report it", async () => {
  const registry = new DbInstanceRegistry(store.database.db);
  const group = (await store.groups.resolve("default"))!;
  const withHealth = (id: string, health: Record<string, Record<string, string>>) => ({ ...beat(id, 5), health });
  await store.database.db.execute(sql`delete from gateway_instances`);
  await registry.heartbeat(
    group.id,
    withHealth("g1", { svc: { "10.0.0.1:80": "healthy", "10.0.0.2:80": "unhealthy" } }),
  );
  await registry.heartbeat(
    group.id,
    withHealth("g2", { svc: { "10.0.0.1:80": "mostly_healthy", "10.0.0.2:80": "healthy" } }),
  );
  await registry.heartbeat(group.id, withHealth("gone", { svc: { "10.0.0.1:80": "unhealthy" } }));
  await store.database.db.execute(
    sql`update gateway_instances set last_heartbeat_at = now() - interval '60 seconds' where id = 'gone'`,
  );
  const app = routesApp(registry);
  const res = await app.request(`/api/gateway_groups/${group.id}/healthcheck`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    list: { service_id: string; nodes: { node: string; status: string; healthy_on: number; unhealthy_on: number }[] }[];
    total: number;
  };
  assert.equal(body.total, 1);
  const nodes = Object.fromEntries(body.list[0]!.nodes.map((n) => [n.node, n]));
  assert.equal(nodes["10.0.0.1:80"]?.status, "healthy", "a gateway that stopped reporting does not count");
  assert.equal(nodes["10.0.0.1:80"]?.healthy_on, 2);
  assert.equal(nodes["10.0.0.2:80"]?.status, "partial");
  assert.equal(nodes["10.0.0.2:80"]?.unhealthy_on, 1);
});
