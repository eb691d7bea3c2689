import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import pino from "pino";
import { activeCheck, type HealthCheckType } from "../../src/config/schema.ts";
import { HealthChecks } from "../../src/proxy/health/health-checks.ts";
import { createProbe } from "../../src/proxy/health/probe-registry.ts";
import { TcpProbe } from "../../src/proxy/health/tcp-probe.ts";
import { nodeAdapter, serviceConfig } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { Dnsmasq, dnsQueryHex, TcpBackend, UdpEcho } from "../fixtures/servers.ts";
import { waitFor } from "../fixtures/wait.ts";

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const fastTcpChecks = {
  active: {
    type: "tcp",
    timeout: 0.5,
    healthy: { interval: 1, successes: 2 },
    unhealthy: { interval: 1, tcp_failures: 2, timeouts: 2 },
  },
};

describe("active tcp checks", () => {
  const backends = [new TcpBackend("a"), new TcpBackend("b"), new TcpBackend("c")];
  const { logger, lines } = capturingLogger();
  const health = new HealthChecks(nodeAdapter, logger);
  after(async () => {
    health.stop();
    for (const b of backends) await b.stop();
  });

  test("a stopped node is marked down within interval × tcp_failures, and back after healthy.successes", async () => {
    for (const b of backends) await b.start();
    const nodes = backends.map((b) => ({ host: "127.0.0.1", port: b.port, weight: 1 }));
    const config = serviceConfig(1, [{ id: "s1", upstream: { nodes, checks: fastTcpChecks } }]);
    health.apply(config);
    const [a, b, c] = backends.map((x) => `127.0.0.1:${x.port}`) as [string, string, string];
    assert.ok(health.isHealthy("s1", b));

    await backends[1]!.stop();
    const downAfter = await waitFor("b marked unhealthy", () => !health.isHealthy("s1", b), 3500);
    assert.ok(downAfter <= 2 * 1000 + 1000, `down after ${downAfter} ms`);
    assert.ok(health.isHealthy("s1", a) && health.isHealthy("s1", c), "the other nodes stay healthy");
    const down = health.snapshot()[0]!.nodes.find((n) => n.node === b)!;
    assert.equal(down.healthy, false);
    assert.equal(down.status, "unhealthy");
    assert.match(down.reason, /active: 2 tcp failures/);
    assert.ok(
      lines.some((l) => l.msg === "upstream node unhealthy" && l.node === b),
      "the change is logged",
    );

    // A re-apply (new config version, same service) keeps the node's state: it stays down.
    health.apply(serviceConfig(2, [{ id: "s1", upstream: { nodes, checks: fastTcpChecks } }]));
    assert.equal(health.isHealthy("s1", b), false);

    await backends[1]!.start();
    const upAfter = await waitFor("b healthy again", () => health.isHealthy("s1", b), 4000);
    assert.ok(upAfter <= 2 * 1000 + 1000, `up after ${upAfter} ms`);
    assert.ok(lines.some((l) => l.msg === "upstream node healthy" && l.node === b));
  });

  test("probing starts at apply, before any traffic; nodes and services that go away are forgotten", async () => {
    const dead = new TcpBackend("dead");
    await dead.start();
    await dead.stop();
    const local = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      const nodes = [{ host: "127.0.0.1", port: dead.port, weight: 1 }];
      local.apply(serviceConfig(1, [{ id: "s2", upstream: { nodes, checks: fastTcpChecks } }]));
      await waitFor("a dead node found by probes alone", () => !local.isHealthy("s2", `127.0.0.1:${dead.port}`), 2500);
      local.apply(serviceConfig(2, []));
      assert.deepEqual(local.snapshot(), []);
      assert.equal(local.isHealthy("s2", `127.0.0.1:${dead.port}`), true, "unknown services count as healthy");
    } finally {
      local.stop();
    }
  });
});

describe("active check options", () => {
  test("`port` probes another port than the node's (a health port)", async () => {
    const healthPort = await new TcpBackend("health").start();
    const dead = new TcpBackend("dead");
    await dead.start();
    await dead.stop();
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      const checks = { active: { ...fastTcpChecks.active, port: healthPort.port } };
      const nodes = [{ host: "127.0.0.1", port: dead.port, weight: 1 }];
      health.apply(serviceConfig(1, [{ id: "hp", upstream: { nodes, checks } }]));
      const node = `127.0.0.1:${dead.port}`;
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal(health.isHealthy("hp", node), true, "the node is judged by its health port");
      await healthPort.stop();
      await waitFor("down once the health port is", () => !health.isHealthy("hp", node), 3500);
    } finally {
      health.stop();
      await healthPort.stop();
    }
  });
});

describe("active udp checks", () => {
  test("an echo server: a reply containing `expect` is healthy, a stopped server times out", async () => {
    const echo = await new UdpEcho("e1").start();
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      const checks = {
        active: {
          type: "udp",
          timeout: 0.3,
          udp: { send: "ping", expect: "e1:ping" },
          healthy: { interval: 1, successes: 1 },
          unhealthy: { interval: 1, timeouts: 2 },
        },
      };
      const node = `127.0.0.1:${echo.port}`;
      const nodes = [{ host: "127.0.0.1", port: echo.port, weight: 1 }];
      health.apply(serviceConfig(1, [{ id: "u1", upstream: { scheme: "udp", nodes, checks } }]));
      await echo.stop();
      await waitFor("udp node down", () => !health.isHealthy("u1", node), 3500);
      assert.match(health.snapshot()[0]!.nodes[0]!.reason, /timeouts/);
      await echo.start();
      await waitFor("udp node up", () => health.isHealthy("u1", node), 2500);

      // A reply without the expected bytes is a failure, not a success.
      const wrong = { ...checks, active: { ...checks.active, udp: { send: "ping", expect: "nope" } } };
      health.apply(serviceConfig(2, [{ id: "u1", upstream: { scheme: "udp", nodes, checks: wrong } }]));
      await waitFor("wrong reply counted as failures", () => !health.isHealthy("u1", node), 3500);
      assert.match(health.snapshot()[0]!.nodes[0]!.reason, /tcp failures/);
    } finally {
      health.stop();
      await echo.stop();
    }
  });

  test("a real DNS server (dnsmasq), probed with a hex DNS query, stopped and restarted", async () => {
    const port = await freePort("udp");
    const dns = new Dnsmasq(port);
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      await dns.start();
      const checks = {
        active: {
          type: "udp",
          timeout: 0.3,
          // The answer must carry 127.0.0.9, the address dnsmasq serves for probe.test.
          udp: { send: dnsQueryHex, expect: "7f000009", encoding: "hex" },
          healthy: { interval: 1, successes: 2 },
          unhealthy: { interval: 1, timeouts: 2 },
        },
      };
      const node = `127.0.0.1:${port}`;
      const nodes = [{ host: "127.0.0.1", port, weight: 1 }];
      health.apply(serviceConfig(1, [{ id: "dns", upstream: { scheme: "udp", nodes, checks } }]));
      await waitFor("first probe answered", () => health.snapshot()[0]!.nodes[0]!.status === "healthy", 1500);
      await dns.stop();
      await waitFor("dns node down", () => !health.isHealthy("dns", node), 3500);
      await dns.start();
      await waitFor("dns node up", () => health.isHealthy("dns", node), 3500);
    } finally {
      health.stop();
      await dns.stop();
      dns.cleanup();
    }
  });
});

describe("passive checks", () => {
  test("connect failures mark a node down, successes bring it back, with passive thresholds", () => {
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      const checks = { passive: { healthy: { successes: 3 }, unhealthy: { tcp_failures: 2, timeouts: 3 } } };
      const nodes = [
        { host: "10.0.0.1", port: 80, weight: 1 },
        { host: "10.0.0.2", port: 80, weight: 1 },
      ];
      health.apply(serviceConfig(1, [{ id: "p", upstream: { nodes, checks } }]));
      health.reportConnect("p", "10.0.0.1:80", "failure");
      assert.equal(health.isHealthy("p", "10.0.0.1:80"), true, "one failure is below the threshold");
      assert.equal(health.snapshot()[0]!.nodes[0]!.status, "mostly_healthy");
      health.reportConnect("p", "10.0.0.1:80", "failure");
      assert.equal(health.isHealthy("p", "10.0.0.1:80"), false);
      for (let i = 0; i < 3; i++) health.reportConnect("p", "10.0.0.2:80", "timeout");
      assert.equal(health.isHealthy("p", "10.0.0.2:80"), false, "timeouts count against their own threshold");
      health.reportConnect("p", "10.0.0.1:80", "ok");
      health.reportConnect("p", "10.0.0.1:80", "ok");
      assert.equal(health.snapshot()[0]!.nodes[0]!.status, "mostly_unhealthy");
      health.reportConnect("p", "10.0.0.1:80", "ok");
      assert.equal(health.isHealthy("p", "10.0.0.1:80"), true);
    } finally {
      health.stop();
    }
  });

  test("without checks, reports change nothing", () => {
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    health.apply(serviceConfig(1, [{ id: "n", upstream: { nodes: [{ host: "10.0.0.1", port: 80, weight: 1 }] } }]));
    for (let i = 0; i < 10; i++) health.reportConnect("n", "10.0.0.1:80", "failure");
    assert.equal(health.isHealthy("n", "10.0.0.1:80"), true);
    health.stop();
  });

  test("services without checks are left out of the health view, but metrics see their nodes as healthy", () => {
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    health.apply(serviceConfig(1, [{ id: "n", upstream: { nodes: [{ host: "10.0.0.1", port: 80, weight: 1 }] } }]));
    assert.deepEqual(health.snapshot(), []);
    const all = health.snapshot({ includeUnchecked: true });
    assert.deepEqual(
      all.map((s) => [s.service_id, s.nodes.map((n) => [n.node, n.healthy])]),
      [["n", [["10.0.0.1:80", true]]]],
    );
    health.apply(serviceConfig(2, []));
    assert.deepEqual(health.snapshot({ includeUnchecked: true }), []);
    health.stop();
  });
});

describe("no silent fallback", () => {
  test("an unknown active check type is refused, not turned into a TCP probe", () => {
    const check = activeCheck.parse({ type: "tcp" });
    assert.throws(
      () => createProbe(nodeAdapter, { ...check, type: "http" as unknown as HealthCheckType }),
      /unknown active health check type 'http'/,
    );
    assert.throws(() => createProbe(nodeAdapter, { ...check, type: "udp" }), /checks.active.udp is required/);
    assert.ok(createProbe(nodeAdapter, check) instanceof TcpProbe);
  });
});
