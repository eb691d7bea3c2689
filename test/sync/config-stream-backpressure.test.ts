/**
 * Issue 12, finding 3: a gateway that stops reading its config stream must not make the control plane
 * buffer every version published meanwhile. The stream keeps one event in flight and at most one pending
 * (a newer version replaces it), and a stream whose event stays unwritten past the send timeout is closed.
 * Real HTTP on loopback: the control-plane routes on @hono/node-server and a raw TCP reader that stops
 * reading after the first event, while versions of a 4 MiB config are published one by one.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect } from "node:net";
import { test } from "node:test";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import pino from "pino";
import type { GatewayConfig } from "../../src/config/types.ts";
import { ConfigHub } from "../../src/sync/config-hub.ts";
import type { InstanceRegistry } from "../../src/sync/instances.ts";
import { CONFIG_STREAM_PATH, GROUP_HEADER, TOKEN_HEADER } from "../../src/sync/protocol.ts";
import { gatewayHandlers } from "../../src/sync/routes.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

const logger = pino({ level: process.env.DEBUG_LOG ? "debug" : "silent" });
const group = { id: "g1", name: "default" };
const TOKEN = "backpressure-token";
const PUBLISHES = 30;
/**
 * a config of 4 MiB on the wire, a group with very many services (the audit used 1.3 MB): large next to
 * the loopback socket buffers (about 10 MiB here), so that only a few versions fit in them
 */
const PADDING = "x".repeat(4 << 20);

function bigConfig(version: number): GatewayConfig {
  // the stream sends the config as JSON whatever it holds: the padding stands for many services
  return {
    version,
    gateway_group: group,
    stream_port_ranges: [{ from: 1, to: 65535 }],
    services: [],
    ssls: [],
    real_ip_from: [],
    padding: PADDING,
  } as GatewayConfig;
}

const noInstances: InstanceRegistry = {
  hello: async () => {},
  heartbeat: async () => {},
  list: async () => [],
};

async function controlPlane(sendTimeoutMs: number) {
  let current = bigConfig(1);
  let lastRead = 0;
  const read = async () => {
    lastRead = current.version;
    return current;
  };
  const hub = new ConfigHub(read, logger, 60_000);
  const handlers = gatewayHandlers({
    auth: {
      resolveGroup: async (ref) => (ref === group.name ? group : undefined),
      verifyToken: async (_g, token) => token === TOKEN,
    },
    hub,
    readConfig: read,
    instances: noInstances,
    logger,
    keepaliveMs: 60_000,
    sendTimeoutMs,
  });
  const app = new Hono().get(CONFIG_STREAM_PATH, handlers.configStream);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    handlers,
    /** publishes versions 2..n+1 one by one, each reaching the streams on its own */
    async publish(n: number, after: () => void) {
      for (let v = 2; v <= n + 1; v++) {
        current = bigConfig(v);
        hub.changed(group.id);
        await waitFor(`the hub reads version ${v}`, () => lastRead === v);
        await sleep(2);
        after();
      }
    },
    close: () =>
      new Promise<void>((done) => {
        hub.stop();
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
        server.close(() => done());
      }),
  };
}

function versionsIn(text: string): number[] {
  return [...text.matchAll(/(?:^|\n)id: (\d+)\n/g)].map((m) => Number(m[1]));
}

/**
 * A gateway's stream read by hand. `stuck`: stops reading once the first event began, like a gateway
 * that hangs: the loopback socket buffers fill, then the server's writes wait.
 */
async function openStream(port: number, stuck: boolean) {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(
    `GET ${CONFIG_STREAM_PATH} HTTP/1.1\r\nHost: cp\r\n${TOKEN_HEADER}: ${TOKEN}\r\n${GROUP_HEADER}: default\r\n\r\n`,
  );
  let text = "";
  let paused = false;
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    text += chunk;
    if (stuck && !paused && versionsIn(text).length > 0) {
      paused = true;
      socket.pause();
    }
  });
  socket.on("error", () => {});
  const closed = once(socket, "close");
  await waitFor("the stream's first event", () => versionsIn(text).length > 0, 10_000);
  return { socket, received: () => text, closed, first: versionsIn(text)[0] };
}

test("a stream whose reader stopped holds one event in flight and skips to the newest version when it reads again", async () => {
  const cp = await controlPlane(60_000);
  const reader = await openStream(cp.port, true);
  try {
    let maxInFlight = 0;
    await cp.publish(PUBLISHES, () => {
      maxInFlight = Math.max(maxInFlight, cp.handlers.eventsInFlight());
    });
    assert.ok(maxInFlight <= 1, `events in flight: ${maxInFlight}`);
    assert.equal(cp.handlers.eventsInFlight(), 1, "the writes wait for the reader");

    // read again: what the socket buffers held and the event in flight, then only the newest version
    reader.socket.resume();
    await waitFor(`version ${PUBLISHES + 1}`, () => versionsIn(reader.received()).includes(PUBLISHES + 1), 20_000);
    await sleep(200);
    const versions = versionsIn(reader.received());
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
      "versions arrive in order",
    );
    assert.equal(versions.at(-1), PUBLISHES + 1, "the newest version arrives last");
    // A queue would deliver all 31 versions (124 MiB held by the control plane for one stuck reader).
    // Without one: the versions that fit the loopback socket buffers, the one in flight and the newest.
    assert.ok(
      versions.length <= 8,
      `${versions.length} of ${PUBLISHES + 1} versions delivered, older versions were queued: ${versions.join(",")}`,
    );
    assert.equal(cp.handlers.eventsInFlight(), 0);
  } finally {
    reader.socket.destroy();
    await cp.close();
  }
});

test("a stream whose reader stays stuck past the send timeout is closed and its event freed", async () => {
  const cp = await controlPlane(1_000);
  const reader = await openStream(cp.port, true);
  const newest = PUBLISHES + 1;
  try {
    await cp.publish(PUBLISHES, () => {});
    await waitFor("the stuck stream's event freed", () => cp.handlers.eventsInFlight() === 0, 15_000);
    // A paused socket sees nothing: read again, get what the socket buffers held, then the end of the
    // stream, never the newest version
    reader.socket.resume();
    await Promise.race([
      reader.closed,
      sleep(15_000).then(() => assert.fail("the stuck stream was not closed within 15 s (send timeout 1 s)")),
    ]);
    assert.ok(!versionsIn(reader.received()).includes(newest), "the stuck reader never got the newest version");
    // the gateway's reconnect gets the newest version at once
    const again = await openStream(cp.port, false);
    assert.equal(again.first, newest);
    again.socket.destroy();
  } finally {
    reader.socket.destroy();
    await cp.close();
  }
});
