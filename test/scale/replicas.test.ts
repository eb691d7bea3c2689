/**
 * Scale-out with real processes: two `sluice control-plane` replicas on a fresh PostgreSQL database and
 * three `sluice gateway` processes (each on its own loopback address, so all three open the same port).
 * A publish through one replica reaches every gateway within a second; the gateways of a killed replica
 * move to the other one; with every control plane down the gateways keep proxying; a gateway restarted
 * then serves from its cache; a wrong token is refused.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { freePort } from "../fixtures/ports.ts";
import {
  api,
  defaultGroupId,
  echoUpstream,
  freshDatabase,
  roundTrip,
  type SluiceProcess,
  sluice,
  stopAll,
  untilServed,
  waitReady,
} from "../fixtures/processes.ts";

const hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: string;
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
const cps: { proc: SluiceProcess; admin: string; status: string }[] = [];
const gateways: { proc: SluiceProcess; status: string; dataDir: string; host: string; urls: string[] }[] = [];
let token = "";
let gid = "";

async function startControlPlane() {
  const proc = sluice(["control-plane", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
  });
  const admin = await proc.addr("admin api listening");
  const status = await proc.addr("status api listening");
  await waitReady(status);
  return { proc, admin, status };
}

async function startGateway(i: number, urls: string[], tok = token) {
  const dataDir = join(tmp, `gw${i}`);
  const proc = sluice(
    [
      "gateway",
      "--control-plane",
      urls.join(","),
      "--group",
      "default",
      "--data-dir",
      dataDir,
      "--status-addr",
      "127.0.0.1:0",
      "--listen-addr",
      hosts[i]!,
    ],
    { SLUICE_GATEWAY_TOKEN: tok },
  );
  const status = await proc.addr("status api listening");
  return { proc, status, dataDir, host: hosts[i]!, urls };
}

async function gatewayStatus(status: string): Promise<{ control_plane: string | null; config_version: number }> {
  return (await (await fetch(`http://${status}/status`)).json()) as {
    control_plane: string | null;
    config_version: number;
  };
}

before(async () => {
  db = await freshDatabase();
  tmp = await mkdtemp(join(tmpdir(), "sluice-scale-"));
  upstream = await echoUpstream("up");
});

after(async () => {
  await stopAll();
  await upstream?.close();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("two control-plane replicas and three gateways", async (t) => {
  cps.push(await startControlPlane(), await startControlPlane());
  const [a, b] = cps as [(typeof cps)[0], (typeof cps)[0]];
  const urlA = `http://${a.admin}`;
  const urlB = `http://${b.admin}`;
  gid = await defaultGroupId(a.admin);
  token = (await api<{ value: { token: string } }>(a.admin, "POST", `/api/gateway_groups/${gid}/token`, {})).value
    .token;
  assert.ok(token.length >= 16);

  // gateways 0 and 2 stream from A, gateway 1 from B
  gateways.push(
    await startGateway(0, [urlA, urlB]),
    await startGateway(1, [urlB, urlA]),
    await startGateway(2, [urlA, urlB]),
  );
  await Promise.all(gateways.map((g) => waitReady(g.status)));

  const port = await freePort();
  await t.test("a publish through replica A reaches every gateway within a second", async (st) => {
    const svc = await api(a.admin, "POST", "/api/services", {
      name: "echo",
      type: "stream",
      upstream: { scheme: "tcp", nodes: [{ host: "127.0.0.1", port: upstream.port, weight: 1 }] },
    });
    const sid = svc.value.id as string;
    await api(a.admin, "POST", `/api/services/${sid}/stream_routes`, { name: "echo-route", server_port: port }, 201);
    await api(a.admin, "POST", `/api/services/${sid}/publish`, { gateway_group_id: gid });
    const took = await Promise.all(gateways.map((g) => untilServed(g.host, port, 3_000)));
    st.diagnostic(`publish → served by each gateway after ${took.join(", ")} ms`);
    for (const [i, ms] of took.entries()) assert.ok(ms < 1_000, `gateway ${i} served after ${ms} ms`);
    assert.equal(await roundTrip(hosts[1]!, port), "up:ping", "the gateway on replica B proxies to the upstream");
  });

  await t.test("the instances list shows the three gateways, healthy, with the version they applied", async () => {
    const { value: config } = await api<{ value: { version: number } }>(
      a.admin,
      "GET",
      `/api/gateway_groups/${gid}/config`,
    );
    const end = Date.now() + 5_000;
    let list: { status: string; config_version: number; runtime: string; hostname: string; id: string }[] = [];
    while (Date.now() < end) {
      const res = await api<{ list: typeof list; total: number }>(
        b.admin,
        "GET",
        `/api/gateway_groups/${gid}/instances`,
      );
      list = res.list;
      if (res.total === 3 && list.every((i) => i.config_version === config.version)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(list.length, 3, JSON.stringify(list));
    for (const instance of list) {
      assert.equal(instance.status, "healthy");
      assert.equal(instance.config_version, config.version);
      assert.match(instance.runtime, /^node /);
    }
    assert.equal(new Set(list.map((i) => i.id)).size, 3);
  });

  await t.test("limit-conn with policy redis holds 5 connections across the three gateways", async () => {
    const limitPort = await freePort();
    const svc = await api(a.admin, "POST", "/api/services", {
      name: "limited",
      type: "stream",
      upstream: { scheme: "tcp", nodes: [{ host: "127.0.0.1", port: upstream.port, weight: 1 }] },
      plugins: {
        "limit-conn": {
          conn: 5,
          burst: 0,
          default_conn_delay: 0.1,
          key_type: "var",
          key: "route_id",
          policy: "redis",
          redis_host: "127.0.0.1",
          redis_port: 6379,
        },
      },
    });
    const sid = svc.value.id as string;
    await api(
      a.admin,
      "POST",
      `/api/services/${sid}/stream_routes`,
      { name: "limited-route", server_port: limitPort },
      201,
    );
    await api(a.admin, "POST", `/api/services/${sid}/publish`, { gateway_group_id: gid });
    await Promise.all(gateways.map((g) => untilServed(g.host, limitPort, 3_000)));
    await new Promise((r) => setTimeout(r, 200)); // the probes above have released their counts
    const held: Socket[] = [];
    try {
      for (const host of [hosts[0], hosts[1], hosts[2], hosts[0], hosts[1]]) {
        held.push(await openHeld(host!, limitPort));
      }
      for (const host of hosts) {
        await assert.rejects(roundTrip(host, limitPort, 1_000), Error, `a 6th connection through ${host} is refused`);
      }
      held.pop()!.destroy();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await roundTrip(hosts[2]!, limitPort), "up:ping", "a freed slot is usable from another gateway");
    } finally {
      for (const s of held) s.destroy();
    }
  });

  await t.test("a wrong token is refused with 401 and logged without the token", async () => {
    const res = await fetch(`${urlA}/api/gateway/config/stream?group=default`, {
      headers: { "X-Gateway-Token": "not-the-token-123" },
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    await a.proc.waitForLine(/gateway refused/);
    assert.ok(!a.proc.lines.some((l) => l.includes("not-the-token-123")), "the token is not logged");
  });

  await t.test("a rotated token works for its grace period, then gets 401", async () => {
    const other = await api(a.admin, "POST", "/api/gateway_groups", { name: "other" }, 201);
    const otherId = other.value.id as string;
    const issue = async () =>
      (await api<{ value: { token: string } }>(a.admin, "POST", `/api/gateway_groups/${otherId}/token`, {})).value
        .token;
    const old = await issue();
    const fresh = await issue();
    const stream = async (tok: string) => {
      const res = await fetch(`${urlB}/api/gateway/config/stream?group=other`, { headers: { "X-Gateway-Token": tok } });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await stream(old), 200, "the previous token works during the grace period");
    assert.equal(await stream(fresh), 200);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await sql`update gateway_groups set previous_token_expires_at = now() - interval '1 second' where id = ${otherId}`;
    } finally {
      await sql.end();
    }
    assert.equal(await stream(old), 401, "past the grace period the old token is refused");
    assert.equal(await stream(fresh), 200);
  });

  await t.test("gateways of a killed replica reconnect to the other and get the next publish", async (st) => {
    await a.proc.stop("SIGKILL");
    const killedAt = Date.now();
    const end = Date.now() + 5_000;
    for (const g of gateways) {
      while ((await gatewayStatus(g.status)).control_plane !== urlB) {
        assert.ok(Date.now() < end, "gateway did not move to replica B within 5 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    st.diagnostic(`all gateways on replica B ${Date.now() - killedAt} ms after replica A was killed`);
    const port2 = await freePort();
    const { list } = await api<{ list: { id: string; name: string }[] }>(b.admin, "GET", "/api/services");
    const sid = list.find((s) => s.name === "echo")!.id;
    await api(b.admin, "POST", `/api/services/${sid}/stream_routes`, { name: "echo-route-2", server_port: port2 }, 201);
    await api(b.admin, "POST", `/api/services/${sid}/publish`, { gateway_group_id: gid });
    const took = await Promise.all(gateways.map((g) => untilServed(g.host, port2, 3_000)));
    for (const [i, ms] of took.entries()) assert.ok(ms < 1_000, `gateway ${i} served the new port after ${ms} ms`);
  });

  await t.test("with every control plane down the gateways keep proxying", async () => {
    await b.proc.stop("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    for (const g of gateways) assert.equal(await roundTrip(g.host, port), "up:ping");
  });

  await t.test("a gateway restarted while the control planes are down serves from its cache", async () => {
    const old = gateways[1]!;
    await old.proc.stop("SIGTERM");
    await assert.rejects(roundTrip(old.host, port, 300));
    const again = await startGateway(1, old.urls);
    gateways[1] = again;
    const t0 = Date.now();
    await waitReady(again.status, 10_000);
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal(await roundTrip(again.host, port), "up:ping");
    await again.proc.waitForLine(/serving the cached config/);
  });

  await t.test("when a replica comes back on its address the gateways catch up", async () => {
    const proc = sluice(["control-plane", "--admin-addr", b.admin, "--status-addr", "127.0.0.1:0"], {
      DATABASE_URL: db.url,
    });
    cps.push({ proc, admin: b.admin, status: await proc.addr("status api listening") });
    await waitReady(cps[2]!.status);
    const { list } = await api<{ list: { id: string; name: string }[] }>(b.admin, "GET", "/api/services");
    const sid = list.find((s) => s.name === "echo")!.id;
    await api(b.admin, "DELETE", `/api/gateway_groups/${gid}/services/${sid}`);
    const end = Date.now() + 10_000;
    for (const g of gateways) {
      for (;;) {
        const served = await roundTrip(g.host, port, 300).then(
          () => true,
          () => false,
        );
        if (!served) break;
        assert.ok(Date.now() < end, `gateway on ${g.host} still serves the unpublished port`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
});

/** a proxied connection that answered once and stays open */
async function openHeld(host: string, port: number): Promise<Socket> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port}`)), 2_000);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`${host}:${port} closed a connection that should be allowed`)));
    socket.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.connect(port, host, () => socket.write("ping"));
  });
  socket.removeAllListeners("close");
  socket.on("error", () => {});
  return socket;
}
