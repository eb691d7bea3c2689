import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import pino from "pino";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import { GatewayMetrics, type MetricsOptions, RouteMetrics } from "../../src/observability/metrics.ts";
import { HealthChecks } from "../../src/proxy/health/health-checks.ts";
import { prometheus } from "../../src/proxy/plugins/prometheus.ts";
import { nodeAdapter, serviceConfig } from "../fixtures/gateway.ts";
import { requireCommand } from "../fixtures/processes.ts";
import { waitFor } from "../fixtures/wait.ts";
import { pluginEnv, session } from "./fixtures/session.ts";

function promtool(args: string[], input?: string) {
  const bin = requireCommand("promtool", "scripts/deps/plugins.sh");
  const run = spawnSync(bin, args, { input, encoding: "utf8", cwd: "infra/prometheus", timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{${labels}}`) || (labels === "" && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const scope = { routeId: "r1", routeName: "route-one", serviceId: "s1" };

/** A gateway's metrics and one route's scope, as the pipeline lends it to the route's plugins. */
function routeMetrics(options: MetricsOptions = {}) {
  const gateway = new GatewayMetrics(options);
  const route = new RouteMetrics(gateway);
  return { metrics: gateway, route, metricsText: () => gateway.text(), env: pluginEnv(undefined, undefined, route) };
}

/** What the pipeline does for every session of the route: counted when routed and when ended. */
function proxied(route: RouteMetrics, s: ReturnType<typeof session>) {
  route.sessionStarted(s);
  return () => route.sessionEnded(s);
}

describe("prometheus plugin and metrics", () => {
  test("records connections, status, bandwidth, connect time; active connections go up and down", async () => {
    const { route, env, metricsText } = routeMetrics({ version: "9.9.9" });
    prometheus.create(pluginSchema(prometheus).parse({}), env, scope);
    const a = session({ node: "127.0.0.1:9001" });
    const b = session({ node: "127.0.0.1:9001" });
    const endA = proxied(route, a);
    proxied(route, b);
    let text = await metricsText();
    assert.equal(sample(text, "sluice_stream_active_connections", 'listen_addr="127.0.0.1:9100"'), 2);
    Object.assign(a, { bytesFromClient: 100, bytesToClient: 2000, connectMs: 3, endedAt: Date.now() });
    endA();
    const rejected = session({ code: 503 });
    proxied(route, rejected)();
    text = await metricsText();
    assert.equal(sample(text, "sluice_stream_active_connections", 'listen_addr="127.0.0.1:9100"'), 1);
    assert.equal(sample(text, "sluice_stream_connection_total", 'route="r1"'), 2);
    assert.equal(
      sample(text, "sluice_stream_status_total", 'code="200",listen_addr="127.0.0.1:9100",node="127.0.0.1:9001"'),
      1,
    );
    assert.equal(sample(text, "sluice_stream_status_total", 'code="503",listen_addr="127.0.0.1:9100",node=""'), 1);
    assert.equal(
      sample(text, "sluice_stream_bandwidth_total", 'listen_addr="127.0.0.1:9100",type="ingress",side="client"'),
      100,
    );
    assert.equal(
      sample(text, "sluice_stream_bandwidth_total", 'listen_addr="127.0.0.1:9100",type="egress",side="client"'),
      2000,
    );
    assert.equal(
      sample(text, "sluice_stream_bandwidth_total", 'listen_addr="127.0.0.1:9100",type="ingress",side="upstream"'),
      2000,
    );
    assert.equal(sample(text, "sluice_stream_connect_duration_seconds_count", ""), 1);
    assert.equal(sample(text, "sluice_stream_connect_duration_seconds_bucket", 'le="0.005"'), 1);
    assert.equal(sample(text, "sluice_build_info", `version="9.9.9",runtime="node ${process.versions.node}"`), 1);
  });

  test("prefer_name labels routes by name", async () => {
    const { route, env, metricsText } = routeMetrics();
    prometheus.create(pluginSchema(prometheus).parse({ prefer_name: true }), env, scope);
    proxied(route, session())();
    assert.equal(sample(await metricsText(), "sluice_stream_connection_total", 'route="route-one"'), 1);
    assert.equal(pluginSchema(prometheus).safeParse({ prefer_name: "yes" }).success, false);
  });

  test("upstream_status and config_version; the exposition passes promtool check metrics, with either prefix", async () => {
    for (const prefix of ["sluice_", "apisix_"]) {
      const { metrics, route, env, metricsText } = routeMetrics({ prefix });
      const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
      try {
        const checks = { passive: { unhealthy: { tcp_failures: 1 } } };
        const nodes = [
          { host: "127.0.0.1", port: 1, weight: 1 },
          { host: "127.0.0.1", port: 2, weight: 1 },
        ];
        health.apply(serviceConfig(1, [{ id: "svc", upstream: { nodes, checks } }]));
        health.reportConnect("svc", "127.0.0.1:1", "failure");
        metrics.setHealthSource(() => health.snapshot());
        metrics.setConfigVersion("default", 7);
        prometheus.create({ prefer_name: false }, env, scope);
        proxied(route, session({ node: "127.0.0.1:2", bytesFromClient: 5, bytesToClient: 5, connectMs: 1 }))();
        metrics.syslogDropped.inc({ server: "udp://127.0.0.1:514" }, 3);
        const text = await metricsText();
        assert.equal(sample(text, `${prefix}upstream_status`, 'service="svc",node="127.0.0.1:1"'), 0);
        assert.equal(sample(text, `${prefix}upstream_status`, 'service="svc",node="127.0.0.1:2"'), 1);
        assert.equal(sample(text, `${prefix}config_version`, 'gateway_group="default"'), 7);
        assert.equal(sample(text, `${prefix}syslog_dropped_total`, 'server="udp://127.0.0.1:514"'), 3);
        const check = promtool(["check", "metrics"], text);
        assert.equal(check.status, 0, `promtool check metrics:\n${check.output}\n${text}`);
      } finally {
        health.stop();
      }
    }
  });

  test("upstream_status follows the health checks at scrape time", async () => {
    const { metrics, metricsText } = routeMetrics();
    const health = new HealthChecks(nodeAdapter, pino({ level: "silent" }));
    try {
      const checks = { passive: { unhealthy: { tcp_failures: 1 }, healthy: { successes: 1 } } };
      health.apply(
        serviceConfig(1, [{ id: "svc", upstream: { nodes: [{ host: "127.0.0.1", port: 1, weight: 1 }], checks } }]),
      );
      metrics.setHealthSource(() => health.snapshot());
      assert.equal(sample(await metricsText(), "sluice_upstream_status", 'service="svc",node="127.0.0.1:1"'), 1);
      health.reportConnect("svc", "127.0.0.1:1", "failure");
      assert.equal(sample(await metricsText(), "sluice_upstream_status", 'service="svc",node="127.0.0.1:1"'), 0);
      health.apply(serviceConfig(2, []));
      await waitFor("gone", () => health.snapshot().length === 0, 100);
      assert.ok(!(await metricsText()).includes('node="127.0.0.1:1"'), "removed services leave the metric");
    } finally {
      health.stop();
    }
  });
});

describe("example alert rules", () => {
  test("infra/prometheus/alerts.yml passes promtool check rules", () => {
    const check = promtool(["check", "rules", "alerts.yml"]);
    assert.equal(check.status, 0, check.output);
    assert.match(check.output, /SUCCESS: 5 rules found/);
  });

  test("the alerts fire as intended (promtool test rules)", () => {
    const check = promtool(["test", "rules", "alerts.test.yml"]);
    assert.equal(check.status, 0, check.output);
  });
});
