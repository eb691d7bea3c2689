/** The dashboard's traffic samples read the same counters in Sluice's and in APISIX's metric names. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TrafficHistory } from "../../src/dashboard/traffic.ts";
import { GatewayMetrics, type MetricsCompat, RouteMetrics } from "../../src/observability/metrics.ts";
import { session } from "../plugins/fixtures/session.ts";

describe("dashboard traffic", () => {
  for (const compat of ["sluice", "apisix"] as MetricsCompat[]) {
    test(`${compat} names: routes, codes and client bytes are sampled`, async () => {
      const metrics = new GatewayMetrics({ compat });
      const route = new RouteMetrics(metrics);
      route.exportSessions("r1");
      const s = session({
        node: "127.0.0.1:9001",
        bytesFromClient: 7,
        bytesToClient: 70,
        closeReason: "client_closed",
      });
      route.sessionStarted(s);
      route.sessionEnded(s);
      const history = new TrafficHistory(() => metrics);
      try {
        const [sample] = await history.read();
        assert.deepEqual(sample!.routes, { r1: 1 });
        assert.deepEqual(sample!.codes, { "200": 1 });
        assert.equal(sample!.bytes_in, 7);
        assert.equal(sample!.bytes_out, 70);
        assert.equal(sample!.active, 0);
      } finally {
        history.stop();
      }
    });
  }
});
