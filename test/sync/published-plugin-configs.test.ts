/**
 * A gateway fed by its control plane (`sluice gateway --control-plane`) runs plugin configs as published,
 * without checking them against the schemas again: the control plane checked them, and filled their
 * defaults, when they were written. What it still refuses and what it still honours.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { checkPlugins } from "../../src/config/plugin-config.ts";
import { streamPlugins } from "../../src/proxy/plugins/index.ts";
import { config, firstLine, namedEchoServer, service, startGateway, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { waitFor } from "../fixtures/wait.ts";

describe("plugin configs taken as published", () => {
  let echo: Awaited<ReturnType<typeof namedEchoServer>>;
  before(async () => {
    echo = await namedEchoServer("up");
  });
  after(() => echo.close());

  test("a config checked when written runs with its defaults; _meta.disable and unknown plugins still count", async () => {
    const { gateway, accessLines } = startGateway({ checkPluginConfigs: false });
    const denied = await freePort();
    const disabled = await freePort();
    // what the admin API stores and publishes: the checked config, defaults filled (response_code 403)
    const stored = checkPlugins({ "ip-restriction": { blacklist: ["127.0.0.1"] } }, streamPlugins);
    assert.ok(stored.ok);
    const off = { ...stored.value["ip-restriction"], _meta: { disable: true } };
    try {
      await gateway.apply(
        config(1, [
          service("ip", upstream([{ port: echo.port }]), [
            { server_port: denied, plugins: stored.value },
            { server_port: disabled, plugins: { "ip-restriction": off } },
          ]),
        ]),
      );
      await assert.rejects(firstLine(denied), /closed|ECONNRESET/);
      assert.equal(await firstLine(disabled), "up", "a plugin turned off with _meta.disable does not run");
      await waitFor("access lines", () => accessLines().length === 2);
      assert.deepEqual(
        accessLines()
          .map((l) => l.code)
          .sort(),
        [200, 403],
        "the default response_code",
      );

      await assert.rejects(
        gateway.apply(
          config(2, [service("ip", upstream([{ port: echo.port }]), [{ server_port: denied, plugins: { nope: {} } }])]),
        ),
        /unknown stream plugin 'nope'/,
      );
      await assert.rejects(
        gateway.apply({ ...config(3, []), plugin_metadata: { prometheus: {} } }),
        /reads no plugin_metadata/,
      );
      assert.equal(gateway.status().version, 1, "a refused config leaves the running one");
    } finally {
      await gateway.stop();
    }
  });
});
