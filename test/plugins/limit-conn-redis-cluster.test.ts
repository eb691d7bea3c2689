/**
 * limit-conn with `policy: "redis-cluster"` against a real three-node Redis Cluster started here
 * (redis-server on three free ports with `--cluster-enabled yes`, joined with `redis-cli --cluster
 * create`, a password on every node; both installed by scripts/deps/plugins.sh), through two real
 * gateways sharing it: the limit holds across them, keys spread over the nodes by hash slot, a slot moved
 * to another node is followed (MOVED) as is one being migrated (ASK), and a node that stops makes the
 * gateways count locally instead of failing connections.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import type { Gateway } from "../../src/proxy/gateway.ts";
import { limitConn } from "../../src/proxy/plugins/limit-conn.ts";
import { keySlot } from "../../src/proxy/plugins/redis-cluster-client.ts";
import type { RedisConnCounter } from "../../src/proxy/plugins/redis-conn-counter.ts";
import { gatewayConfig, type LogLine, namedEchoServer, startGateway, tcpUp } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { killDaemon, requireCommand, run, spawnDaemon } from "../fixtures/processes.ts";
import { waitFor } from "../fixtures/wait.ts";
import { pluginEnv, session } from "./fixtures/session.ts";

const INSTALLER = "scripts/deps/plugins.sh";
const PASSWORD = "cluster-test-pw";

interface ClusterNode {
  port: number;
  process: ChildProcess & { output: () => string };
  id: string;
}

let dir: string;
let redisCli: string;
let redisServer: string;
const nodes: ClusterNode[] = [];
let upstream: Awaited<ReturnType<typeof namedEchoServer>>;
const gateways: { gateway: Gateway; lines: LogLine[]; port: number }[] = [];
const openSockets = new Set<net.Socket>();

async function cli(port: number, ...args: string[]): Promise<string> {
  const result = await run(redisCli, [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-a",
    PASSWORD,
    "--no-auth-warning",
    ...args,
  ]);
  assert.equal(result.code, 0, `redis-cli ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

function clusterConf() {
  return {
    conn: 2,
    burst: 0,
    default_conn_delay: 0.1,
    only_use_default_delay: true,
    policy: "redis-cluster",
    redis_cluster_name: "test-cluster",
    redis_cluster_nodes: nodes.map((n) => `127.0.0.1:${n.port}`),
    redis_password: PASSWORD,
    redis_timeout: 500,
    key: "remote_addr",
  };
}

/** connects through a gateway: "served" once the upstream's greeting arrives, "closed" when closed first */
function connect(port: number): Promise<"served" | "closed"> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    openSockets.add(socket);
    const timer = setTimeout(() => resolve("closed"), 5000);
    socket.once("data", () => {
      clearTimeout(timer);
      resolve("served");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      openSockets.delete(socket);
      resolve("closed");
    });
  });
}

function closeAll(): void {
  for (const s of openSockets) s.destroy();
  openSockets.clear();
}

/** the node holding `key`: its value on that node (read without following redirects) */
async function holderOf(key: string): Promise<{ node: ClusterNode; value: string } | undefined> {
  for (const node of nodes) {
    const result = await run(redisCli, ["-p", String(node.port), "-a", PASSWORD, "--no-auth-warning", "GET", key]);
    const out = result.stdout.trim();
    if (result.code === 0 && !out.startsWith("MOVED") && !out.startsWith("ASK") && out !== "")
      return { node, value: out };
  }
  return undefined;
}

/** the slot's owner as the cluster itself says (`CLUSTER NODES`: `id addr flags … slot-ranges`) */
async function ownerOf(slot: number): Promise<ClusterNode> {
  for (const line of (await cli(nodes[0]!.port, "CLUSTER", "NODES")).split("\n")) {
    const fields = line.split(" ");
    for (const range of fields.slice(8)) {
      if (range.startsWith("[")) continue; // a slot in migration, listed on its own
      const [start, end] = range.split("-").map(Number);
      if (slot >= start! && slot <= (end ?? start!)) return nodes.find((n) => n.id === fields[0])!;
    }
  }
  throw new Error(`no owner found for slot ${slot}`);
}

/** a cluster node on `port`; its cluster config file in the test's directory lets a restarted node rejoin */
function startNode(port: number): ClusterNode["process"] {
  return spawnDaemon(redisServer, [
    ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
    ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`)],
    ...["--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no"],
    ...["--requirepass", PASSWORD, "--masterauth", PASSWORD],
  ]);
}

before(async () => {
  redisServer = requireCommand("redis-server", INSTALLER);
  redisCli = requireCommand("redis-cli", INSTALLER);
  dir = mkdtempSync(join(tmpdir(), "sluice-redis-cluster-"));
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    nodes.push({ port, process: startNode(port), id: "" });
  }
  for (const node of nodes) await waitFor(`redis-server on ${node.port}`, () => tcpUp(node.port), 10_000);
  const created = await run(
    redisCli,
    [
      ...["-a", PASSWORD, "--no-auth-warning", "--cluster", "create"],
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-yes",
    ],
    60_000,
  );
  assert.equal(created.code, 0, `redis-cli --cluster create: ${created.stdout}\n${created.stderr}`);
  for (const node of nodes) {
    node.id = await cli(node.port, "CLUSTER", "MYID");
    await waitFor(
      `cluster_state:ok on ${node.port}`,
      async () => (await cli(node.port, "CLUSTER", "INFO")).includes("cluster_state:ok"),
      20_000,
    );
  }
  upstream = await namedEchoServer("upstream");
});

after(async () => {
  closeAll();
  for (const g of gateways) await g.gateway.stop();
  await upstream?.close();
  for (const node of nodes) await killDaemon(node.process);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("limit-conn, policy redis-cluster (a real three-node Redis Cluster)", () => {
  test("the client's hash slots are Redis Cluster's (CRC16, hash tags)", async () => {
    for (const key of ["sluice:limit-conn:r1:127.0.0.1", "foo", "{user1000}.following", "a{}b", "ü{x}"]) {
      assert.equal(keySlot(key), Number(await cli(nodes[0]!.port, "CLUSTER", "KEYSLOT", key)), key);
    }
  });

  test("conn 2 across two gateways sharing the cluster admits exactly 2 concurrent connections", async () => {
    const routeId = `cluster-${randomUUID()}`;
    for (let i = 0; i < 2; i++) {
      const started = startGateway();
      const port = await freePort();
      const conf = clusterConf();
      const report = await started.gateway.apply(
        gatewayConfig(1, {
          id: "svc",
          upstream: { type: "roundrobin", nodes: [{ host: "127.0.0.1", port: upstream.port, weight: 1 }] },
          routes: [{ id: routeId, server_port: port, plugins: { "limit-conn": conf } }],
        }),
      );
      assert.deepEqual(report.failed, []);
      gateways.push({ gateway: started.gateway, lines: started.lines, port });
    }
    const [a, b] = gateways;
    // six at once, three through each gateway: the cluster's atomic count lets exactly two through
    const outcomes = await Promise.all([a, b, a, b, a, b].map((g) => connect(g!.port)));
    assert.equal(outcomes.filter((o) => o === "served").length, 2, `outcomes: ${outcomes}`);
    const key = `sluice:limit-conn:${routeId}:127.0.0.1`;
    await waitFor("the rejected ones given back", async () => (await holderOf(key))?.value === "2");
    closeAll();
    await waitFor("every count given back", async () => (await holderOf(key))?.value === "0");
    // and the limit is whole again
    assert.deepEqual(await Promise.all([connect(a!.port), connect(b!.port)]), ["served", "served"]);
    assert.equal(await connect(a!.port), "closed");
    closeAll();
    for (const g of gateways) {
      assert.ok(!g.lines.some((l) => String(l.msg).includes("redis unreachable")), "the cluster was used throughout");
    }
  });

  test("keys on different slots land on the nodes owning them", async (t) => {
    const env = pluginEnv();
    t.after(() => {
      for (const [id, v] of env.shared) if (id.startsWith("redis-cluster:")) (v as RedisConnCounter).close();
    });
    const holders = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const routeId = `spread-${i}-${randomUUID()}`;
      const plugin = limitConn.create(pluginSchema(limitConn).parse(clusterConf()), env, { routeId, serviceId: "s" });
      assert.equal(await plugin.preread!(session()), undefined);
      const key = `sluice:limit-conn:${routeId}:127.0.0.2`;
      const holder = await holderOf(key);
      assert.ok(holder, `${key} is in the cluster (counted there, not locally)`);
      assert.equal(holder.value, "1");
      assert.equal(holder.node, await ownerOf(keySlot(key)), `${key} is on its slot's owner`);
      holders.add(holder.node.port);
    }
    assert.equal(holders.size, 3, "every node holds some of the keys");
  });

  test("a slot moved to another node is followed (MOVED), and one being migrated too (ASK)", async (t) => {
    const env = pluginEnv();
    t.after(() => {
      for (const [id, v] of env.shared) if (id.startsWith("redis-cluster:")) (v as RedisConnCounter).close();
    });
    const make = (routeId: string) =>
      limitConn.create(pluginSchema(limitConn).parse(clusterConf()), env, { routeId, serviceId: "s" });
    // the client reads the slot map now
    assert.equal(await make(`warm-${randomUUID()}`).preread!(session()), undefined);

    // MOVED: an empty slot reassigned after the client read the map
    const movedRoute = `moved-${randomUUID()}`;
    const movedKey = `sluice:limit-conn:${movedRoute}:127.0.0.2`;
    const slot = keySlot(movedKey);
    const from = await ownerOf(slot);
    const to = nodes.find((n) => n !== from)!;
    for (const node of [to, from, ...nodes.filter((n) => n !== to && n !== from)]) {
      await cli(node.port, "CLUSTER", "SETSLOT", String(slot), "NODE", to.id);
    }
    assert.equal(await make(movedRoute).preread!(session()), undefined);
    const moved = await holderOf(movedKey);
    assert.equal(moved?.node, to, "counted on the slot's new owner");
    assert.equal(moved?.value, "1");

    // ASK: a slot in migration; the key is not on the old owner yet, so it is asked for on the new one
    let askRoute = "";
    let askSlot = -1;
    for (let i = 0; askSlot < 0 || askSlot === slot; i++) {
      askRoute = `ask-${i}-${randomUUID()}`;
      askSlot = keySlot(`sluice:limit-conn:${askRoute}:127.0.0.2`);
    }
    const owner = await ownerOf(askSlot);
    const importer = nodes.find((n) => n !== owner)!;
    await cli(importer.port, "CLUSTER", "SETSLOT", String(askSlot), "IMPORTING", owner.id);
    await cli(owner.port, "CLUSTER", "SETSLOT", String(askSlot), "MIGRATING", importer.id);
    try {
      assert.equal(await make(askRoute).preread!(session()), undefined);
      assert.equal(await cli(importer.port, "CLUSTER", "COUNTKEYSINSLOT", String(askSlot)), "1");
      assert.equal(await cli(owner.port, "CLUSTER", "COUNTKEYSINSLOT", String(askSlot)), "0");
    } finally {
      // finish the migration so the cluster is whole for the next test
      for (const node of [importer, owner, ...nodes.filter((n) => n !== importer && n !== owner)]) {
        await cli(node.port, "CLUSTER", "SETSLOT", String(askSlot), "NODE", importer.id);
      }
    }
  });

  test("a cluster node stopping mid-test degrades to local counting; back in the cluster once it returns", async () => {
    assert.equal(gateways.length, 2, "runs after the two-gateway test");
    const [a] = gateways;
    // with one of three primaries gone (and no replica to take over) the cluster refuses every command
    // (CLUSTERDOWN), and the stopped node's keys are unreachable anyway
    const victim = nodes[2]!;
    await killDaemon(victim.process);
    await waitFor(
      "the cluster noticed",
      async () => !(await cli(nodes[0]!.port, "CLUSTER", "INFO")).includes("cluster_state:ok"),
      15_000,
    );
    // conn 2 still holds, now per gateway
    assert.deepEqual(await Promise.all([connect(a!.port), connect(a!.port)]), ["served", "served"]);
    assert.equal(await connect(a!.port), "closed", "the local count limits");
    closeAll();
    await waitFor("released locally", async () => (await connect(a!.port)) === "served");
    closeAll();
    assert.ok(
      a!.lines.some((l) => String(l.msg).includes("redis unreachable, counting locally")),
      "the outage is logged",
    );

    // the node comes back (its cluster config file keeps its slots): the gateway counts in the cluster again
    victim.process = startNode(victim.port);
    for (const node of nodes) {
      await waitFor(
        `cluster_state:ok on ${node.port} again`,
        async () => (await cli(node.port, "CLUSTER", "INFO").catch(() => "")).includes("cluster_state:ok"),
        20_000,
      );
    }
    await waitFor(
      "the gateway back on the cluster",
      async () => {
        const served = await connect(a!.port);
        closeAll();
        return served === "served" && a!.lines.some((l) => String(l.msg).includes("redis reachable again"));
      },
      15_000,
    );
  });
});
