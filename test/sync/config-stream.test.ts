/**
 * Config delivery between the control-plane routes (src/sync/routes.ts) and a gateway's GatewaySync,
 * over real HTTP servers on loopback: first config, live updates, resume, wrong token, failover to the
 * second control plane, and the on-disk cache when no control plane answers.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import pino from "pino";
import type { GatewayConfig } from "../../src/config/types.ts";
import { ConfigHub } from "../../src/sync/config-hub.ts";
import { GatewaySync, type SyncedDataPlane } from "../../src/sync/gateway-sync.ts";
import type { InstanceRegistry, InstanceView } from "../../src/sync/instances.ts";
import { CONFIG_STREAM_PATH, HEARTBEAT_PATH, type HeartbeatBody, type InstanceHello } from "../../src/sync/protocol.ts";
import { gatewayHandlers } from "../../src/sync/routes.ts";
import { waitFor } from "../fixtures/wait.ts";

const logger = pino({ level: "silent" });
const group = { id: "g1", name: "default" };
const TOKEN = "good-token";
/** tokens the control planes accept now (rotation: an old token leaves this set when its grace ends) */
const validTokens = new Set([TOKEN]);

function configAt(version: number): GatewayConfig {
  return {
    version,
    gateway_group: group,
    stream_port_ranges: [{ from: 1, to: 65535 }],
    services: [],
    ssls: [],
    real_ip_from: [],
  };
}

/** the group's config "in the database": shared by both control planes, as replicas share PostgreSQL */
let current = configAt(1);

class RecordingRegistry implements InstanceRegistry {
  readonly hellos: InstanceHello[] = [];
  readonly beats: HeartbeatBody[] = [];
  async hello(_g: string, hello: InstanceHello) {
    this.hellos.push(hello);
  }
  async heartbeat(_g: string, body: HeartbeatBody) {
    this.beats.push(body);
  }
  async list(): Promise<InstanceView[]> {
    return [];
  }
}

function startControlPlane() {
  const hub = new ConfigHub(async () => current, logger, 200);
  const registry = new RecordingRegistry();
  const handlers = gatewayHandlers({
    auth: {
      resolveGroup: async (ref) => (ref === group.name || ref === group.id ? group : undefined),
      verifyToken: async (_g, token) => validTokens.has(token),
    },
    hub,
    readConfig: async () => current,
    instances: registry,
    logger,
    keepaliveMs: 500,
  });
  const app = new Hono().get(CONFIG_STREAM_PATH, handlers.configStream).post(HEARTBEAT_PATH, handlers.heartbeat);
  return new Promise<{ url: string; hub: ConfigHub; registry: RecordingRegistry; close(): Promise<void> }>(
    (resolve) => {
      const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => {
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          hub,
          registry,
          close: () =>
            new Promise((done) => {
              hub.stop();
              (server as unknown as { closeAllConnections(): void }).closeAllConnections();
              server.close(() => done());
            }),
        });
      });
    },
  );
}

class RecordingDataPlane implements SyncedDataPlane {
  readonly applied: number[] = [];
  failVersion = -1;
  async apply(config: GatewayConfig) {
    if (config.version === this.failVersion) throw new Error("port 1 is not allowed");
    this.applied.push(config.version);
  }
  report() {
    return { listeners: [], active_connections: 0, health: {} };
  }
}

const dirs: string[] = [];
async function dataDir() {
  const d = await mkdtemp(join(tmpdir(), "sluice-sync-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const identity = (id: string): InstanceHello => ({
  id,
  hostname: "h",
  runtime: "node",
  sluice_version: "0",
  address: "",
});

test("a gateway gets the current config, then each new version live, and fails over to the other control plane", async () => {
  current = configAt(1);
  const a = await startControlPlane();
  const b = await startControlPlane();
  const dp = new RecordingDataPlane();
  const sync = new GatewaySync({
    controlPlanes: [a.url, b.url],
    group: "default",
    token: TOKEN,
    dataDir: await dataDir(),
    identity: identity("gw-1"),
    dataPlane: dp,
    logger,
    heartbeatIntervalMs: 200,
  });
  try {
    sync.start();
    await sync.ready;
    assert.deepEqual(dp.applied, [1]);
    assert.equal(a.registry.hellos[0]?.id, "gw-1", "the control plane learns the instance when its stream opens");

    current = configAt(2);
    const t0 = Date.now();
    a.hub.changed(group.id);
    await waitFor("version 2", () => sync.appliedVersion === 2);
    assert.ok(Date.now() - t0 < 1000, "a new version reaches the gateway within a second");
    await waitFor("a heartbeat with version 2", () => a.registry.beats.some((h) => h.config_version === 2));

    await a.close();
    current = configAt(3);
    // the gateway must reconnect to b; the hub's periodic check (200 ms here) or the resume delivers v3
    await waitFor("reconnect to the second control plane", () => sync.connectedTo === b.url);
    await waitFor("version 3 from the second control plane", () => sync.appliedVersion === 3);
    assert.deepEqual(dp.applied, [1, 2, 3], "versions are applied in order, each once");
  } finally {
    await sync.stop();
    await b.close();
  }
});

test("a config that fails to apply is reported and the previous one keeps serving", async () => {
  current = configAt(5);
  const cp = await startControlPlane();
  const dp = new RecordingDataPlane();
  dp.failVersion = 6;
  const sync = new GatewaySync({
    controlPlanes: [cp.url],
    group: "default",
    token: TOKEN,
    dataDir: await dataDir(),
    identity: identity("gw-2"),
    dataPlane: dp,
    logger,
    heartbeatIntervalMs: 100,
  });
  try {
    sync.start();
    await sync.ready;
    current = configAt(6);
    cp.hub.changed(group.id);
    await waitFor("the failure in a heartbeat", () => cp.registry.beats.some((h) => h.config_error?.version === 6));
    assert.equal(sync.appliedVersion, 5);
    assert.match(cp.registry.beats.at(-1)!.config_error!.message, /port 1/);
  } finally {
    await sync.stop();
    await cp.close();
  }
});

test("a wrong token is refused with 401", async () => {
  const cp = await startControlPlane();
  try {
    const res = await fetch(`${cp.url}/api/gateway/config/stream?group=default`, {
      headers: { "X-Gateway-Token": "wrong" },
    });
    assert.equal(res.status, 401);
    const beat = await fetch(`${cp.url}/api/gateway/heartbeat`, {
      method: "POST",
      headers: { "X-Gateway-Token": "wrong", "X-Gateway-Group": "default", "content-type": "application/json" },
      body: JSON.stringify({ id: "x" }),
    });
    assert.equal(beat.status, 401);
  } finally {
    await cp.close();
  }
});

test("with no control plane reachable, a restarted gateway serves its cached config", async () => {
  current = configAt(9);
  const dir = await dataDir();
  const cp = await startControlPlane();
  const first = new GatewaySync({
    controlPlanes: [cp.url],
    group: "default",
    token: TOKEN,
    dataDir: dir,
    identity: identity("gw-3"),
    dataPlane: new RecordingDataPlane(),
    logger,
  });
  first.start();
  await first.ready;
  await first.stop();
  const deadUrl = cp.url;
  await cp.close();
  const cached = JSON.parse(await readFile(join(dir, "config-cache.json"), "utf8"));
  assert.equal(cached.config.version, 9);

  const dp = new RecordingDataPlane();
  const second = new GatewaySync({
    controlPlanes: [deadUrl],
    group: "default",
    token: TOKEN,
    dataDir: dir,
    identity: identity("gw-3"),
    dataPlane: dp,
    logger,
  });
  try {
    second.start();
    const t0 = Date.now();
    await second.ready;
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(dp.applied, [9]);
  } finally {
    await second.stop();
  }
});

test("a stream whose token stops being valid (rotated, grace over) is closed and not reopened", async () => {
  current = configAt(11);
  const cp = await startControlPlane();
  const rotated = "rotated-token";
  validTokens.add(rotated);
  const sync = new GatewaySync({
    controlPlanes: [cp.url],
    group: "default",
    token: rotated,
    dataDir: await dataDir(),
    identity: identity("gw-4"),
    dataPlane: new RecordingDataPlane(),
    logger,
  });
  try {
    sync.start();
    await sync.ready;
    assert.equal(sync.connectedTo, cp.url);
    validTokens.delete(rotated);
    await waitFor("the stream to be closed", () => sync.connectedTo === undefined, 3_000);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(sync.connectedTo, undefined, "the reconnect is refused");
    assert.equal(sync.appliedVersion, 11, "the gateway keeps serving what it has");
  } finally {
    await sync.stop();
    await cp.close();
  }
});
