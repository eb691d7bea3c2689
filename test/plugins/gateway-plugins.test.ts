/** The four plugins end to end, through a real Gateway on the Node adapter, with real clients and servers. */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import type { Gateway } from "../../src/proxy/gateway.ts";
import { gatewayConfig, startConfiguredGateway, tcpExchange } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { TcpBackend } from "../fixtures/servers.ts";
import { waitFor } from "../fixtures/wait.ts";
import { Rsyslog } from "./fixtures/rsyslog.ts";

async function idle(gateway: Gateway): Promise<void> {
  await waitFor("gateway idle", () => gateway.status().activeConnections === 0, 5000);
}

/** A client connection kept open; resolves once the first byte arrived (or the connection closed). */
async function openClient(port: number): Promise<{ socket: net.Socket; data: string; ms: number; closed: boolean }> {
  const start = Date.now();
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  return new Promise((resolve) => {
    socket.once("data", (d) => resolve({ socket, data: String(d), ms: Date.now() - start, closed: false }));
    socket.once("close", () => resolve({ socket, data: "", ms: Date.now() - start, closed: true }));
  });
}

describe("ip-restriction through a gateway", () => {
  test("127.0.0.2 / 127.0.0.3 / ::1 clients: whitelist then blacklist; denied clients never reach the upstream", async () => {
    const backend = await new TcpBackend("hello").start();
    const port = await freePort();
    const config = (version: number, plugin: Record<string, unknown>) =>
      gatewayConfig(version, {
        id: "s1",
        upstream: { nodes: [{ host: "127.0.0.1", port: backend.port, weight: 1 }] },
        plugins: { "ip-restriction": plugin },
        routes: [
          { id: "v4", server_port: port },
          { id: "v6", server_port: port, server_addr: "::1" },
        ],
      });
    const gateway = await startConfiguredGateway(config(1, { whitelist: ["127.0.0.2", "::1"] }));
    try {
      const from = (localAddress: string) =>
        tcpExchange(port, { host: localAddress.includes(":") ? "::1" : "127.0.0.1", localAddress });
      assert.equal((await from("127.0.0.2")).data, "hello");
      assert.equal((await from("::1")).data, "hello");
      const accepted = backend.accepted;
      const denied = await from("127.0.0.3");
      assert.equal(denied.data, "", "a denied client gets no upstream byte");
      assert.equal(backend.accepted, accepted, "the upstream never saw the denied client");

      await gateway.apply(config(2, { blacklist: ["127.0.0.3", "::1"] }));
      assert.equal((await from("127.0.0.2")).data, "hello");
      assert.equal((await from("127.0.0.3")).data, "");
      assert.equal((await from("::1")).data, "");
      assert.equal(backend.accepted, accepted + 1);
    } finally {
      await gateway.stop();
      await backend.stop();
    }
  });
});

describe("limit-conn through a gateway", () => {
  test("conn 1, burst 1: the 2nd connection waits default_conn_delay, the 3rd is closed with 503", async () => {
    const backend = await new TcpBackend("held", true).start();
    const port = await freePort();
    const gateway = await startConfiguredGateway(
      gatewayConfig(1, {
        id: "s1",
        upstream: { nodes: [{ host: "127.0.0.1", port: backend.port, weight: 1 }] },
        routes: [
          {
            id: "r1",
            server_port: port,
            plugins: { "limit-conn": { conn: 1, burst: 1, default_conn_delay: 0.4, only_use_default_delay: true } },
          },
        ],
      }),
    );
    try {
      const first = await openClient(port);
      assert.equal(first.data, "held");
      assert.ok(first.ms < 300, `first not delayed (${first.ms} ms)`);
      const second = await openClient(port);
      assert.equal(second.data, "held");
      assert.ok(second.ms >= 380, `second delayed by 0.4 s (${second.ms} ms)`);
      const third = await openClient(port);
      assert.equal(third.closed, true);
      assert.equal(third.data, "");
      assert.equal(backend.accepted, 2, "the rejected connection never reached the upstream");
      first.socket.destroy();
      second.socket.destroy();
      await idle(gateway);
      const again = await openClient(port);
      assert.equal(again.data, "held");
      assert.ok(again.ms < 300, "the counts were given back");
      again.socket.destroy();
    } finally {
      await gateway.stop();
      await backend.stop();
    }
  });

  test("never leaks: refused upstream, idle timeout, client reset, upstream close, earlier-plugin rejects, own rejects", async () => {
    const held = await new TcpBackend("held", true).start();
    const closing = await new TcpBackend("bye").start();
    const dead = await freePort();
    const port = await freePort();
    const limit = { "limit-conn": { conn: 2, burst: 0, default_conn_delay: 0.1 } };
    let version = 0;
    const config = (upstreamPort: number, extra: Record<string, unknown> = {}) =>
      gatewayConfig(++version, {
        id: "s1",
        upstream: {
          nodes: [{ host: "127.0.0.1", port: upstreamPort, weight: 1 }],
          timeout: { connect: 0.5, send: 0.3, read: 0.3 },
        },
        plugins: { "ip-restriction": { blacklist: ["127.0.0.3"] }, ...extra },
        routes: [{ id: "r1", server_port: port, plugins: limit }],
      });
    const gateway = await startConfiguredGateway(config(dead));
    try {
      // upstream refused: 502
      for (let i = 0; i < 4; i++) assert.equal((await tcpExchange(port)).data, "");
      await idle(gateway);

      await gateway.apply(config(held.port));
      // idle timeout: nobody sends, the gateway closes after 0.3 s
      const idled = await Promise.all([tcpExchange(port), tcpExchange(port)]);
      for (const r of idled) assert.equal(r.data, "held");
      // client reset
      for (let i = 0; i < 3; i++) (await openClient(port)).socket.resetAndDestroy();
      // rejected by ip-restriction, before limit-conn counts
      for (let i = 0; i < 3; i++) assert.equal((await tcpExchange(port, { localAddress: "127.0.0.3" })).data, "");
      // own rejects: two held open, the third rejected
      const a = await openClient(port);
      const b = await openClient(port);
      const c = await openClient(port);
      assert.equal(c.closed, true, "over conn + burst is rejected");
      a.socket.destroy();
      b.socket.destroy();
      await idle(gateway);

      // upstream closes first
      await gateway.apply(config(closing.port));
      for (let i = 0; i < 3; i++) assert.equal((await tcpExchange(port)).data, "bye");
      await idle(gateway);

      // Exactly conn connections fit again: nothing leaked.
      await gateway.apply(config(held.port));
      const x = await openClient(port);
      const y = await openClient(port);
      const z = await openClient(port);
      assert.equal(x.data, "held");
      assert.equal(y.data, "held");
      assert.equal(z.closed, true);
      x.socket.destroy();
      y.socket.destroy();
    } finally {
      await gateway.stop();
      await held.stop();
      await closing.stop();
    }
  });
});

describe("prometheus and syslog through a gateway", () => {
  test("a proxied and a denied connection show in the metrics and in rsyslog's file", async () => {
    const rsyslog = new Rsyslog();
    await rsyslog.start();
    const backend = await new TcpBackend("pong").start();
    const port = await freePort();
    const gateway = await startConfiguredGateway(
      gatewayConfig(1, {
        id: "s1",
        upstream: { nodes: [{ host: "127.0.0.1", port: backend.port, weight: 1 }] },
        plugins: {
          "ip-restriction": { blacklist: ["127.0.0.3"] },
          prometheus: {},
          syslog: { host: "127.0.0.1", port: rsyslog.udpPort, sock_type: "udp", batch_max_size: 1 },
        },
        routes: [{ id: "r1", server_port: port }],
      }),
    );
    try {
      assert.equal((await tcpExchange(port, { send: "ping" })).data, "pong");
      assert.equal((await tcpExchange(port, { localAddress: "127.0.0.3" })).data, "");
      await idle(gateway);
      await waitFor("two syslog lines", () => rsyslog.lines().length >= 2, 5000);
      const bodies = rsyslog.lines().map((l) => JSON.parse(l.msg));
      const ok = bodies.find((b) => b.status === 200);
      const denied = bodies.find((b) => b.status === 403);
      assert.equal(ok.route_id, "r1");
      assert.equal(ok.upstream_addr, `127.0.0.1:${backend.port}`);
      assert.equal(ok.bytes_received, 4);
      assert.equal(ok.bytes_sent, 4);
      assert.equal(denied.client_addr, "127.0.0.3");
      assert.equal(denied.upstream_addr, undefined);

      const text = await gateway.metrics.text();
      const listen = `listen_addr="127.0.0.1:${port}"`;
      // the denied connection is one of r1's too: the session counts every way it ends
      assert.ok(text.includes('sluice_stream_connection_total{route="r1"} 2'), text);
      assert.ok(text.includes(`sluice_stream_status_total{code="200",${listen},node="127.0.0.1:${backend.port}"} 1`));
      assert.ok(text.includes(`sluice_stream_status_total{code="403",${listen},node=""} 1`));
      assert.ok(text.includes(`sluice_stream_active_connections{${listen}} 0`));
      assert.ok(text.includes(`sluice_stream_bandwidth_total{${listen},type="ingress",side="client"} 4`));
    } finally {
      await gateway.stop();
      await backend.stop();
      await rsyslog.stop();
      rsyslog.cleanup();
    }
  });
});

describe("metrics belong to each gateway", () => {
  test("two gateways in one process share no counters; a route without prometheus exports none of its sessions", async () => {
    const backend = await new TcpBackend("pong").start();
    const [portA, portB] = [await freePort(), await freePort()];
    const nodes = [{ host: "127.0.0.1", port: backend.port, weight: 1 }];
    const a = await startConfiguredGateway(
      gatewayConfig(1, {
        id: "s1",
        upstream: { nodes },
        plugins: { prometheus: {} },
        routes: [{ id: "ra", server_port: portA }],
      }),
    );
    const b = await startConfiguredGateway(
      gatewayConfig(1, {
        id: "s1",
        upstream: { nodes },
        plugins: { "ip-restriction": { blacklist: ["127.0.0.3"] } },
        routes: [{ id: "rb", server_port: portB }],
      }),
    );
    try {
      assert.equal((await tcpExchange(portA, { send: "ping" })).data, "pong");
      assert.equal((await tcpExchange(portB, { send: "ping" })).data, "pong");
      assert.equal((await tcpExchange(portB, { localAddress: "127.0.0.3" })).data, "");
      await idle(a);
      await idle(b);
      const textA = await a.metrics.text();
      const textB = await b.metrics.text();
      assert.ok(textA.includes('sluice_stream_connection_total{route="ra"} 1'), textA);
      assert.ok(!textA.includes('route="rb"'), "gateway a never counts gateway b's route");
      assert.ok(!textB.includes("sluice_stream_connection_total{"), "no prometheus on rb: no per-session series");
      assert.ok(!textB.includes('code="403"'), "a reject is exported only where the route enables prometheus");
      assert.ok(!textB.includes('code="200"'), textB);
      assert.ok(textB.includes('sluice_config_version{gateway_group="default"} 1'), textB);
    } finally {
      await a.stop();
      await b.stop();
      await backend.stop();
    }
  });
});
