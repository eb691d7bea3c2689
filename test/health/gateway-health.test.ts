/**
 * Health checks through a real Gateway on the Node adapter: a stopped node leaves the balancer
 * within interval × threshold and comes back after healthy.successes, and clients never notice.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gatewayConfig, startConfiguredGateway, tcpExchange, udpExchange } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { Dnsmasq, dnsQueryHex, TcpBackend, UdpEcho } from "../fixtures/servers.ts";
import { waitFor } from "../fixtures/wait.ts";

describe("health checks through a gateway", () => {
  test("tcp: three backends, one stopped and restarted; no client connection fails", async () => {
    const backends = [new TcpBackend("a"), new TcpBackend("b"), new TcpBackend("c")];
    for (const b of backends) await b.start();
    const port = await freePort();
    const config = gatewayConfig(1, {
      id: "s1",
      upstream: {
        nodes: backends.map((b) => ({ host: "127.0.0.1", port: b.port, weight: 1 })),
        timeout: { connect: 0.5 },
        checks: {
          active: {
            type: "tcp",
            timeout: 0.5,
            healthy: { interval: 1, successes: 2 },
            unhealthy: { interval: 1, tcp_failures: 2 },
          },
        },
      },
      routes: [{ id: "r1", server_port: port }],
    });
    // the gateway's own health checks, applied with the config
    const gateway = await startConfiguredGateway(config);
    const health = gateway.health;
    const b = `127.0.0.1:${backends[1]!.port}`;
    try {
      const seen = async (n: number) => {
        const names: string[] = [];
        for (let i = 0; i < n; i++) {
          const r = await tcpExchange(port);
          assert.equal(r.error, undefined, `connection ${i} failed: ${r.error}`);
          assert.ok(["a", "b", "c"].includes(r.data), `unexpected answer '${r.data}'`);
          names.push(r.data);
        }
        return names;
      };
      assert.ok((await seen(9)).includes("b"), "all three serve at first");

      await backends[1]!.stop();
      const stoppedAt = Date.now();
      // Connections keep working while the checks catch up (the gateway retries another node).
      while (health.isHealthy("s1", b)) {
        assert.ok(Date.now() - stoppedAt < 3500, "b must leave within interval × tcp_failures (+ a probe's timeout)");
        await seen(1);
      }
      const names = await seen(12);
      assert.ok(!names.includes("b"), "no connection reaches the stopped node");
      assert.ok(names.includes("a") && names.includes("c"));

      await backends[1]!.start();
      const restartedAt = Date.now();
      await waitFor("b healthy again", () => health.isHealthy("s1", b), 4000);
      assert.ok(Date.now() - restartedAt <= 3500, "back after healthy.successes × interval");
      assert.ok((await seen(9)).includes("b"), "b gets connections again");
    } finally {
      await gateway.stop();
      health.stop();
      for (const x of backends) await x.stop();
    }
  });

  test("udp: echo upstreams, one stopped and restarted; every session still gets its reply", async () => {
    const echoes = [new UdpEcho("x"), new UdpEcho("y")];
    for (const e of echoes) await e.start();
    const port = await freePort("udp");
    const config = gatewayConfig(1, {
      id: "u1",
      upstream: {
        scheme: "udp",
        nodes: echoes.map((e) => ({ host: "127.0.0.1", port: e.port, weight: 1 })),
        checks: {
          active: {
            type: "udp",
            timeout: 0.3,
            udp: { send: "health", expect: ":health" },
            healthy: { interval: 1, successes: 1 },
            unhealthy: { interval: 1, timeouts: 2 },
          },
        },
      },
      routes: [{ id: "r1", server_port: port }],
    });
    // the gateway's own health checks, applied with the config
    const gateway = await startConfiguredGateway(config);
    const health = gateway.health;
    const y = `127.0.0.1:${echoes[1]!.port}`;
    try {
      await echoes[1]!.stop();
      await waitFor("y marked down", () => !health.isHealthy("u1", y), 3500);
      for (let i = 0; i < 8; i++) {
        const reply = await udpExchange(port, Buffer.from(`q${i}`));
        assert.equal(reply?.toString(), `x:q${i}`, `session ${i} answered by the healthy node`);
      }
      await echoes[1]!.start();
      await waitFor("y healthy again", () => health.isHealthy("u1", y), 2500);
      const answers = new Set<string>();
      for (let i = 0; i < 8; i++) answers.add(String((await udpExchange(port, Buffer.from("q")))?.toString()));
      assert.ok(answers.has("y:q"), `y serves again: ${[...answers]}`);
    } finally {
      await gateway.stop();
      health.stop();
      for (const e of echoes) await e.stop();
    }
  });

  test("udp: two dnsmasq servers, one stopped; DNS answers keep coming through the gateway", async () => {
    const dns = [new Dnsmasq(await freePort("udp")), new Dnsmasq(await freePort("udp"))];
    const port = await freePort("udp");
    const query = Buffer.from(dnsQueryHex, "hex");
    const config = gatewayConfig(1, {
      id: "dns",
      upstream: {
        scheme: "udp",
        nodes: dns.map((d) => ({ host: "127.0.0.1", port: d.port, weight: 1 })),
        checks: {
          active: {
            type: "udp",
            timeout: 0.3,
            udp: { send: dnsQueryHex, expect: "7f000009", encoding: "hex" },
            healthy: { interval: 1, successes: 1 },
            unhealthy: { interval: 1, timeouts: 2 },
          },
        },
      },
      routes: [{ id: "r1", server_port: port }],
    });
    let gateway: Awaited<ReturnType<typeof startConfiguredGateway>> | undefined;
    try {
      for (const d of dns) await d.start();
      gateway = await startConfiguredGateway(config);
      const health = gateway.health;
      await dns[0]!.stop();
      await waitFor(
        "stopped dns server marked down",
        () => !health.isHealthy("dns", `127.0.0.1:${dns[0]!.port}`),
        3500,
      );
      for (let i = 0; i < 6; i++) {
        const reply = await udpExchange(port, query);
        assert.ok(reply?.includes(Buffer.from("7f000009", "hex")), `query ${i} answered with 127.0.0.9`);
      }
      await dns[0]!.start();
      await waitFor("dns server back", () => health.isHealthy("dns", `127.0.0.1:${dns[0]!.port}`), 2500);
    } finally {
      await gateway?.stop();
      for (const d of dns) {
        await d.stop();
        d.cleanup();
      }
    }
  });
});
