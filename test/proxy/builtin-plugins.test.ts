/** The built-in stream plugins (ip-restriction, limit-conn) driven by the real pipeline. */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { config, firstLine, namedEchoServer, service, startGateway, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { waitFor } from "../fixtures/wait.ts";

describe("built-in plugins in the pipeline", () => {
  let echo: Awaited<ReturnType<typeof namedEchoServer>>;
  before(async () => {
    echo = await namedEchoServer("up");
  });
  after(() => echo.close());

  test("ip-restriction on the service, overridden by the route; limit-conn rejects the extra connection", async () => {
    const { gateway, accessLines } = startGateway();
    const guarded = await freePort();
    const open = await freePort();
    const limited = await freePort();
    await gateway.apply(
      config(1, [
        service(
          "ip",
          upstream([{ port: echo.port }]),
          [
            { server_port: guarded },
            { server_port: open, plugins: { "ip-restriction": { blacklist: ["10.0.0.0/8"] } } },
          ],
          { "ip-restriction": { whitelist: ["127.0.0.1"] } },
        ),
        service("lc", upstream([{ port: echo.port }]), [
          {
            server_port: limited,
            plugins: {
              "limit-conn": { conn: 1, burst: 0, default_conn_delay: 0.1, key: "remote_addr", rejected_code: 503 },
            },
          },
        ]),
      ]),
    );
    const held: net.Socket[] = [];
    try {
      assert.equal(await firstLine(guarded), "up");
      await assert.rejects(firstLine(guarded, "127.0.0.2"), /closed|ECONNRESET/);
      assert.equal(await firstLine(open, "127.0.0.2"), "up", "the route's plugin config wins over the service's");

      const first = net.connect(limited, "127.0.0.1");
      first.on("error", () => {});
      held.push(first);
      await new Promise((r) => first.once("data", r));
      await assert.rejects(firstLine(limited), /closed|ECONNRESET/);
      first.destroy();
      await waitFor("the first connection to end", () => gateway.status().activeConnections === 0);
      assert.equal(await firstLine(limited), "up", "the count went back down when the connection ended");
      await waitFor("access lines", () => accessLines().length === 6);
      const codes = accessLines()
        .map((l) => l.code)
        .sort();
      assert.deepEqual(codes, [200, 200, 200, 200, 403, 503]);
    } finally {
      for (const s of held) s.destroy();
      await gateway.stop();
    }
  });
});
