/**
 * The Sluice → APISIX metric table (src/compat/apisix-metric-names.ts) covers every stream metric APISIX's
 * exporter has, with APISIX's exact names and label order, and every metric Sluice registers.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  apisixBandwidthSide,
  apisixCodeByCloseReason,
  apisixMetricNames,
  apisixRejectCode,
  apisixStatusCode,
  apisixStreamCodes,
  apisixStreamRouteServicePrefix,
  apisixUpstreamStatusLabels,
  upstreamHolderOfService,
} from "../../src/compat/apisix-metric-names.ts";
import { GatewayMetrics } from "../../src/observability/metrics.ts";
import { mirrorServiceId } from "../../src/store/apisix-objects.ts";
import {
  apisixStreamMetrics,
  apisixStreamRejectCode,
  streamBandwidthDirections,
  streamReasonToCode,
  streamStatusCodes,
} from "./fixtures/apisix-stream-metrics.ts";

describe("Sluice metrics in APISIX mode", () => {
  test("every APISIX stream metric has a Sluice source with APISIX's exact name and label order", () => {
    for (const metric of apisixStreamMetrics) {
      const mapping = apisixMetricNames.find((m) => m.apisix !== undefined && `apisix_${m.apisix}` === metric.name);
      assert.ok(mapping, `${metric.name} has a Sluice source`);
      assert.deepEqual(
        mapping.labels.map(([, apisix]) => apisix),
        metric.labels,
        `${metric.name} labels`,
      );
    }
  });

  test("every metric Sluice registers is in the table, with the labels it really has", () => {
    const registered = new GatewayMetrics({ prefix: "sluice_" }).registry.getMetricsAsArray();
    const names = registered.map((m) => m.name.replace(/^sluice_/, "")).sort();
    assert.deepEqual(names, apisixMetricNames.map((m) => m.sluice).sort());
    for (const metric of registered) {
      const mapping = apisixMetricNames.find((m) => `sluice_${m.sluice}` === metric.name)!;
      const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
      for (const [sluice] of mapping.labels) {
        if (sluice !== null) assert.ok(labelNames.includes(sluice), `${metric.name} has label ${sluice}`);
      }
    }
  });

  test("reject codes fold into APISIX's set exactly as exporter.lua does", () => {
    for (const code of [200, 302, 400, 401, 403, 404, 429, 499, 500, 502, 503, 504, 599]) {
      assert.equal(apisixRejectCode(code), apisixStreamRejectCode(code), `code ${code}`);
    }
  });

  test("every close reason maps to a code APISIX's metric carries, as APISIX's reasons do", () => {
    for (const code of Object.values(apisixCodeByCloseReason)) assert.ok(apisixStreamCodes.has(code));
    assert.deepEqual([...apisixStreamCodes].sort(), [...streamStatusCodes].sort());
    assert.equal(apisixStatusCode(200, "client_reset"), streamReasonToCode.client_rst);
    assert.equal(apisixStatusCode(200, "upstream_reset"), streamReasonToCode.upstream_rst);
    assert.equal(apisixStatusCode(200, "client_closed"), streamReasonToCode.closed);
    assert.equal(apisixStatusCode(403, "client_closed"), "403");
    assert.equal(apisixStatusCode(200, "idle_timeout", "tcp"), "502");
    assert.equal(apisixStatusCode(200, "idle_timeout", "udp"), "200", "a UDP session ends by going idle");
  });

  test("in APISIX mode the registry holds APISIX's families under their APISIX names, and no Sluice name", () => {
    const names = new GatewayMetrics({ compat: "apisix" }).registry.getMetricsAsArray().map((m) => m.name);
    for (const metric of apisixStreamMetrics) assert.ok(names.includes(metric.name), metric.name);
    for (const mapping of apisixMetricNames) {
      const expected = `apisix_${mapping.apisix ?? mapping.sluice}`;
      assert.ok(names.includes(expected), `${mapping.sluice} registered as ${expected}`);
    }
    assert.equal(names.length, apisixMetricNames.length);
  });

  test("bandwidth sides are APISIX's downstream / upstream", () => {
    const sides = new Set(streamBandwidthDirections.map((d) => d.side));
    assert.ok(sides.has(apisixBandwidthSide("client")));
    assert.ok(sides.has(apisixBandwidthSide("upstream")));
  });

  test("an APISIX stream route's mirror service reports as that stream route", () => {
    assert.ok(mirrorServiceId("7").startsWith(apisixStreamRouteServicePrefix));
    assert.deepEqual(upstreamHolderOfService(mirrorServiceId("7")), { kind: "stream_route", id: "7" });
    assert.deepEqual(upstreamHolderOfService("db"), { kind: "service", id: "db" });
  });

  test("upstream_status labels name the holder and split the node", () => {
    assert.deepEqual(apisixUpstreamStatusLabels({ kind: "upstream", id: "1" }, "127.0.0.1:8080"), {
      name: "/apisix/upstreams/1",
      ip: "127.0.0.1",
      port: "8080",
    });
    assert.deepEqual(apisixUpstreamStatusLabels({ kind: "stream_route", id: "r1" }, "[::1]:53"), {
      name: "/apisix/stream_routes/r1",
      ip: "::1",
      port: "53",
    });
  });
});
