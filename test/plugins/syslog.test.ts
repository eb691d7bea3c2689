import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, before, describe, test } from "node:test";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import { LogFormatError } from "../../src/proxy/plugins/log-format.ts";
import { compileLogFormat, syslog } from "../../src/proxy/plugins/syslog.ts";
import type { SyslogSender } from "../../src/proxy/plugins/syslog-sender.ts";
import type { PluginEnv } from "../../src/proxy/plugins/types.ts";
import { gatewayConfig, namedEchoServer, startGateway, tcpExchange } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { waitFor } from "../fixtures/wait.ts";
import { Rsyslog } from "./fixtures/rsyslog.ts";
import { pluginEnv, session } from "./fixtures/session.ts";

const scope = { routeId: "r1", serviceId: "s1" };

function closeSenders(env: PluginEnv): void {
  for (const value of env.shared.values()) (value as SyslogSender).close();
}

function endedSession(i: number) {
  const s = session({ clientPort: 40000 + i, node: "127.0.0.1:9001", bytesFromClient: 10 + i, bytesToClient: 200 + i });
  s.endedAt = s.startedAt + 1500;
  s.closeReason = "client_closed";
  return s;
}

describe("syslog schema", () => {
  test("APISIX defaults; sock_type defaults to tcp as in APISIX", () => {
    const conf = pluginSchema(syslog).parse({ host: "127.0.0.1", port: 514 });
    assert.equal(conf.sock_type, "tcp");
    assert.equal(conf.timeout, 3000);
    assert.equal(conf.batch_max_size, 1000);
    assert.equal(conf.inactive_timeout, 5);
    assert.equal(conf.buffer_duration, 60);
    assert.equal(conf.max_retry_count, 0);
    assert.equal(conf.retry_delay, 1);
    assert.equal(conf.tls, false);
  });

  test("tls: true is refused with a clear message; unknown variables in log_format are named", () => {
    const tls = pluginSchema(syslog).safeParse({ host: "h", port: 514, tls: true });
    assert.match(tls.error!.issues[0]!.message, /TLS to the syslog server is not supported/);
    const format = pluginSchema(syslog).safeParse({
      host: "h",
      port: 514,
      log_format: { who: "$remote_addr", x: "$nope" },
    });
    assert.deepEqual(
      format.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
      ["log_format.x: unknown variable '$nope'"],
    );
    assert.equal(pluginSchema(syslog).safeParse({ port: 514 }).success, false, "host is required");
  });

  test("log_format takes APISIX's shape: nested objects, arrays and literals; an unknown variable anywhere is named with its path", () => {
    const ok = pluginSchema(syslog).safeParse({
      host: "h",
      port: 514,
      log_format: { client: { ip: "$remote_addr", ports: ["$remote_port", "$server_port"] }, n: 1, on: true },
    });
    assert.equal(ok.success, true, JSON.stringify(ok.error?.issues));
    const bad = pluginSchema(syslog).safeParse({
      host: "h",
      port: 514,
      log_format: { client: { ip: "$remote_adr" }, list: ["$status", "x $upstrem_addr"] },
    });
    assert.deepEqual(
      bad.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
      ["log_format.client.ip: unknown variable '$remote_adr'", "log_format.list.1: unknown variable '$upstrem_addr'"],
    );
    const deep = pluginSchema(syslog).safeParse({
      host: "h",
      port: 514,
      log_format: { a: { b: { c: { d: { e: { f: "x" } } } } } },
    });
    assert.match(deep.error!.issues[0]!.message, /nested deeper than 5 levels/);
  });

  test("compileLogFormat (what plugin_metadata's log_format goes through) throws naming the variable", () => {
    assert.throws(
      () => compileLogFormat({ when: "$time_local", who: "$nobody" }),
      (error: unknown) =>
        error instanceof LogFormatError && /log_format\.who: unknown variable '\$nobody'/.test(error.message),
    );
    assert.ok(compileLogFormat({ when: "$time_local" }));
    assert.ok(compileLogFormat('{"when": "$time_local", "who": {"ip": "$remote_addr"}}'), "its JSON text too");
    assert.throws(() => compileLogFormat('{"who": "$nobody"}'), /log_format\.who: unknown variable '\$nobody'/);
    assert.throws(() => compileLogFormat("[1]"), /log_format: must be a JSON object/);
  });
});

describe("syslog against a real rsyslog", () => {
  const server = new Rsyslog();
  before(() => server.start());
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  for (const sockType of ["udp", "tcp"] as const) {
    test(`${sockType}: RFC 5424 frames with the default log format reach the server, batched`, async () => {
      const env = pluginEnv();
      try {
        const port = sockType === "udp" ? server.udpPort : server.tcpPort;
        const conf = pluginSchema(syslog).parse({
          host: "127.0.0.1",
          port,
          sock_type: sockType,
          batch_max_size: 3,
          inactive_timeout: 1,
        });
        const plugin = syslog.create(conf, env, scope);
        const before = server.lines().length;
        for (let i = 0; i < 4; i++) plugin.log!(endedSession(i)); // one full batch, one sent after 1 s idle
        await waitFor("4 lines written", () => server.lines().length >= before + 4, 5000);
        const lines = server.lines().slice(before);
        assert.equal(lines.length, 4);
        for (const line of lines) {
          assert.equal(line.pri, "46");
          assert.equal(line.app, "sluice");
          assert.equal(line.procid, String(process.pid));
          assert.equal(line.hostname, hostname());
        }
        const bodies = lines.map((l) => JSON.parse(l.msg)).sort((a, b) => a.client_port - b.client_port);
        assert.deepEqual(bodies[0], {
          start_time: bodies[0].start_time,
          route_id: "r1",
          route_name: "route-one",
          service_id: "s1",
          service_name: "service-one",
          protocol: "TCP",
          client_addr: "127.0.0.2",
          client_port: 40000,
          server_addr: "127.0.0.1",
          server_port: 9100,
          upstream_addr: "127.0.0.1:9001",
          bytes_received: 10,
          bytes_sent: 200,
          session_time: 1.5,
          close_reason: "client_closed",
          status: 200,
        });
        assert.equal(bodies[3].bytes_sent, 203);
      } finally {
        closeSenders(env);
      }
    });
  }

  test("a custom log_format: $variables, templates and literals", async () => {
    const env = pluginEnv();
    try {
      const conf = pluginSchema(syslog).parse({
        host: "127.0.0.1",
        port: server.tcpPort,
        batch_max_size: 1,
        log_format: { client: "$remote_addr:$remote_port", code: "$status", env: "test" },
      });
      const plugin = syslog.create(conf, env, scope);
      const before = server.lines().length;
      plugin.log!(endedSession(7));
      await waitFor("line written", () => server.lines().length > before, 5000);
      assert.deepEqual(JSON.parse(server.lines()[before]!.msg), { client: "127.0.0.2:40007", code: 200, env: "test" });
    } finally {
      closeSenders(env);
    }
  });
});

describe("syslog's log_format from the group's plugin_metadata, through a gateway, against a real rsyslog", () => {
  const server = new Rsyslog();
  before(() => server.start());
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  test("a route without its own log_format logs in the metadata's format; a route's own log_format wins", async () => {
    const echo = await namedEchoServer("echo");
    const started = startGateway();
    try {
      const [plain, own] = [await freePort(), await freePort()];
      const syslogConf = { host: "127.0.0.1", port: server.tcpPort, batch_max_size: 1 };
      const base = gatewayConfig(1, {
        id: "svc",
        upstream: { type: "roundrobin", nodes: [{ host: "127.0.0.1", port: echo.port, weight: 1 }] },
        routes: [
          { id: "plain", server_port: plain, plugins: { syslog: syslogConf } },
          { id: "own", server_port: own, plugins: { syslog: { ...syslogConf, log_format: { mine: "$route_id" } } } },
        ],
      });
      const report = await started.gateway.apply({
        ...base,
        plugin_metadata: { syslog: { log_format: { from: "metadata", route: "$route_id", port: "$server_port" } } },
      });
      assert.deepEqual(report.failed, []);
      const before = server.lines().length;
      assert.equal((await tcpExchange(plain, { send: "x" })).data.startsWith("echo"), true);
      assert.equal((await tcpExchange(own, { send: "x" })).data.startsWith("echo"), true);
      await waitFor("two lines written", () => server.lines().length >= before + 2, 5000);
      const bodies = server
        .lines()
        .slice(before)
        .map((l) => JSON.parse(l.msg));
      assert.deepEqual(
        bodies.find((b) => b.from),
        { from: "metadata", route: "plain", port: plain },
      );
      assert.deepEqual(
        bodies.find((b) => b.mine),
        { mine: "own" },
      );
    } finally {
      await started.gateway.stop();
      await echo.close();
    }
  });

  test("metadata with an unknown variable, or for a plugin that reads none, is refused and the running config stays", async () => {
    const started = startGateway();
    try {
      const port = await freePort();
      const base = gatewayConfig(1, {
        id: "svc",
        upstream: { type: "roundrobin", nodes: [{ host: "127.0.0.1", port: 1, weight: 1 }] },
        routes: [{ id: "r", server_port: port }],
      });
      assert.deepEqual((await started.gateway.apply(base)).failed, []);
      await assert.rejects(
        started.gateway.apply({ ...base, version: 2, plugin_metadata: { syslog: { log_format: { x: "$nobody" } } } }),
        /nobody/,
      );
      await assert.rejects(
        started.gateway.apply({ ...base, version: 3, plugin_metadata: { "ip-restriction": { message: "no" } } }),
        /plugin ip-restriction reads no plugin_metadata/,
      );
      assert.equal(started.gateway.status().version, 1);
    } finally {
      await started.gateway.stop();
    }
  });
});

describe("syslog log_format with nginx's stream variables, against a real rsyslog", () => {
  const server = new Rsyslog();
  before(() => server.start());
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  /** the variables APISIX's stream syslog reads from nginx (ngx_stream_core, ngx_stream_upstream) and ctx.var */
  const nginxVariables = [
    "time_local",
    "time_iso8601",
    "msec",
    "remote_addr",
    "remote_port",
    "server_addr",
    "server_port",
    "protocol",
    "status",
    "bytes_sent",
    "bytes_received",
    "session_time",
    "upstream_addr",
    "upstream_bytes_sent",
    "upstream_bytes_received",
    "upstream_connect_time",
    "route_id",
    "route_name",
    "service_id",
    "service_name",
    "balancer_ip",
    "balancer_port",
    "hostname",
    "pid",
  ];

  for (const sockType of ["udp", "tcp"] as const) {
    test(`${sockType}: each variable carries nginx's value; nested fields and templates too`, async () => {
      const env = pluginEnv();
      try {
        const logFormat: Record<string, unknown> = Object.fromEntries(nginxVariables.map((v) => [v, `$${v}`]));
        logFormat.nested = { client: "$remote_addr:$remote_port", list: ["$status", "fixed"] };
        const conf = pluginSchema(syslog).parse({
          host: "127.0.0.1",
          port: sockType === "udp" ? server.udpPort : server.tcpPort,
          sock_type: sockType,
          batch_max_size: 1,
          log_format: logFormat,
        });
        const plugin = syslog.create(conf, env, scope);
        const before = server.lines().length;
        const s = endedSession(3);
        s.connectMs = 4;
        plugin.log!(s);
        await waitFor("line written", () => server.lines().length > before, 5000);
        const body = JSON.parse(server.lines()[before]!.msg);
        assert.match(body.time_local, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/);
        assert.match(body.time_iso8601, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/);
        assert.ok(Math.abs(body.msec - Date.now() / 1000) < 60);
        const { time_local, time_iso8601, msec, ...rest } = body;
        assert.deepEqual(rest, {
          remote_addr: "127.0.0.2",
          remote_port: 40003,
          server_addr: "127.0.0.1",
          server_port: 9100,
          protocol: "TCP",
          status: 200,
          bytes_sent: 203,
          bytes_received: 13,
          session_time: 1.5,
          upstream_addr: "127.0.0.1:9001",
          upstream_bytes_sent: 13,
          upstream_bytes_received: 203,
          upstream_connect_time: 0.004,
          route_id: "r1",
          route_name: "route-one",
          service_id: "s1",
          service_name: "service-one",
          balancer_ip: "127.0.0.1",
          balancer_port: 9001,
          hostname: hostname(),
          pid: process.pid,
          nested: { client: "127.0.0.2:40003", list: [200, "fixed"] },
        });
      } finally {
        closeSenders(env);
      }
    });
  }

  test("a session that reached no upstream leaves the upstream fields out, as nginx's empty variables", async () => {
    const env = pluginEnv();
    try {
      const conf = pluginSchema(syslog).parse({
        host: "127.0.0.1",
        port: server.udpPort,
        sock_type: "udp",
        batch_max_size: 1,
        log_format: { status: "$status", up: "$upstream_addr", sent: "$upstream_bytes_sent", ip: "$balancer_ip" },
      });
      const plugin = syslog.create(conf, env, scope);
      const before = server.lines().length;
      plugin.log!(session({ code: 403, bytesFromClient: 5 }));
      await waitFor("line written", () => server.lines().length > before, 5000);
      assert.deepEqual(JSON.parse(server.lines()[before]!.msg), { status: 403 });
    } finally {
      closeSenders(env);
    }
  });
});

describe("syslog with the server down", () => {
  test("entries are retried, then dropped and counted; logging never blocks", async () => {
    const env = pluginEnv();
    const metricsText = () => env.metrics.gateway.text();
    const server = new Rsyslog();
    await server.start();
    const port = server.tcpPort;
    await server.stop(); // nothing listens on the port now
    try {
      const conf = pluginSchema(syslog).parse({
        host: "127.0.0.1",
        port,
        batch_max_size: 2,
        max_retry_count: 1,
        retry_delay: 0,
        timeout: 500,
      });
      const plugin = syslog.create(conf, env, scope);
      const started = performance.now();
      for (let i = 0; i < 4; i++) plugin.log!(endedSession(i));
      assert.ok(performance.now() - started < 50, "log() returns at once");
      const dropped = async () => {
        const line = (await metricsText()).split("\n").find((l) => l.startsWith("sluice_syslog_dropped_total{"));
        return line ? Number(line.split(" ").pop()) : 0;
      };
      for (let i = 0; i < 100 && (await dropped()) < 4; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await dropped(), 4);

      // Bounded: beyond 10 × batch_max_size (at least 1000) waiting entries, new ones are dropped at once.
      const bounded = syslog.create({ ...conf, batch_max_size: 5000, retry_delay: 1, max_retry_count: 0 }, env, scope);
      for (let i = 0; i < 50_001; i++) bounded.log!(endedSession(i));
      assert.ok((await dropped()) >= 4 + 1, "overflow is counted");
    } finally {
      closeSenders(env);
      server.cleanup();
    }
  });
});
