/** `--metrics-compat` / `SLUICE_METRICS_COMPAT` / `SLUICE_METRICS_PREFIX=apisix_`: which names `/metrics` carries. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "../../src/cli/command.ts";
import { parseMetricsCompat } from "../../src/cli/data-plane-settings.ts";
import { GatewayMetrics, metricsPrefix } from "../../src/observability/metrics.ts";

describe("--metrics-compat", () => {
  test("Sluice's names by default; apisix from the flag, the environment, or the apisix_ prefix alone", () => {
    assert.equal(parseMetricsCompat(undefined, {}), "sluice");
    assert.equal(parseMetricsCompat("apisix", {}), "apisix");
    assert.equal(parseMetricsCompat(undefined, { SLUICE_METRICS_COMPAT: "apisix" }), "apisix");
    assert.equal(parseMetricsCompat(undefined, { SLUICE_METRICS_PREFIX: "apisix_" }), "apisix");
    assert.equal(parseMetricsCompat(undefined, { SLUICE_METRICS_PREFIX: "edge_" }), "sluice");
    assert.equal(parseMetricsCompat("sluice", { SLUICE_METRICS_PREFIX: "apisix_" }), "sluice", "the flag wins");
  });

  test("anything else is a usage error naming the choices", () => {
    assert.throws(
      () => parseMetricsCompat("nginx", {}),
      (e: unknown) => e instanceof UsageError && /'sluice' or 'apisix'/.test(e.message),
    );
  });

  test("APISIX mode takes the apisix_ prefix unless one is set, as APISIX's metric_prefix", async () => {
    assert.equal(metricsPrefix({ compat: "apisix" }), "apisix_");
    assert.equal(metricsPrefix({}), "sluice_");
    const text = await new GatewayMetrics({ compat: "apisix", prefix: "edge_" }).text();
    assert.match(text, /^# TYPE edge_stream_status counter$/m);
    assert.match(text, /^edge_node_info\{hostname="[^"]+",version="unknown"\} 1$/m);
  });
});
