/**
 * The seed scenario with the real `mariadb` client against MariaDB on 127.0.0.1:3306, and live config
 * changes under a long-lived MariaDB session: new version, runtime node change, rollback, new port,
 * removed port with drain, a port that cannot be bound.
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { spawn } from "node:child_process";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { config, service, startGateway, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { requireCommand, run } from "../fixtures/processes.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

const MARIADB = { host: "127.0.0.1", port: 3306 };

function mariadbUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(MARIADB.port, MARIADB.host);
    s.once("data", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A long-lived `mariadb` session; `query` sends one statement and waits for its output line. */
class MariadbSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = "";
  constructor(port: number) {
    this.child = spawn("mariadb", ["-h127.0.0.1", `-P${port}`, "-uroot", "-N", "-B", "--unbuffered"]);
    this.child.stdout.on("data", (d) => {
      this.out += d;
    });
    this.child.stderr.on("data", (d) => {
      this.out += d;
    });
  }
  async query(sql: string, expect: string): Promise<void> {
    const start = this.out.length;
    this.child.stdin.write(`${sql};\n`);
    await waitFor(`'${expect}' from mariadb`, () => this.out.slice(start).includes(expect), 5000).catch((e) => {
      throw new Error(`${(e as Error).message}; output: ${this.out.slice(start)}`);
    });
  }
  get output(): string {
    return this.out;
  }
  exited(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve(this.child.exitCode);
      else this.child.once("exit", (code) => resolve(code));
    });
  }
  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

/** A plain TCP forwarder to MariaDB: a second "node" for the same database. */
async function forwarder(): Promise<{ port: number; connections: number; close: () => void }> {
  const state = { port: 0, connections: 0, close: () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    state.connections++;
    const u = net.connect(MARIADB.port, MARIADB.host);
    sockets.add(c).add(u);
    c.pipe(u).pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return state;
}

describe("mariadb through the gateway", () => {
  before(async () => {
    requireCommand("mariadb", "scripts/deps/proxy.sh");
    assert.ok(await mariadbUp(), "MariaDB must be running on 127.0.0.1:3306 (scripts/services.sh starts it)");
  });

  test("seed scenario: same answer as direct for 127.0.0.1, a client from 127.0.0.2 is refused", async () => {
    const { gateway, accessLines } = startGateway();
    const port = await freePort();
    await gateway.apply(
      config(1, [service("db", upstream([MARIADB]), [{ server_port: port, remote_addr: "127.0.0.1" }])]),
    );
    try {
      const direct = await run("mariadb", ["-h127.0.0.1", "-P3306", "-uroot", "-e", "select 1"]);
      const proxied = await run("mariadb", ["-h127.0.0.1", `-P${port}`, "-uroot", "-e", "select 1"]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(proxied.code, 0, proxied.stderr);
      assert.equal(proxied.stdout, direct.stdout);
      assert.match(proxied.stdout, /^1\n1\n$/);

      // MariaDB speaks first: directly, a client from 127.0.0.2 gets its greeting; through the gateway, nothing.
      const viaGateway = await new Promise<number>((resolve) => {
        let bytes = 0;
        const s = net.connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
        s.on("data", (d) => {
          bytes += d.length;
        });
        s.on("error", () => {});
        s.on("close", () => resolve(bytes));
      });
      assert.equal(viaGateway, 0);
      assert.equal(gateway.status().counters.tcpNoRoute, 1);
      await waitFor("access line", () => accessLines().length === 1);
      assert.equal(accessLines()[0]!.node, "127.0.0.1:3306");
    } finally {
      await gateway.stop();
    }
  });

  describe("hot config", () => {
    let fwd: Awaited<ReturnType<typeof forwarder>>;
    before(async () => {
      fwd = await forwarder();
    });
    after(() => fwd.close());

    test("a long-lived session survives a new version, a runtime node change and a rollback; ports open and drain live", async () => {
      const { gateway, accessLines, lines } = startGateway({ drainTimeoutMs: 1000 });
      const port = await freePort();
      const port2 = await freePort();
      const v1 = config(1, [service("db", upstream([MARIADB]), [{ server_port: port }])]);
      await gateway.apply(v1);
      const session = new MariadbSession(port);
      try {
        await session.query("select 'q1'", "q1");

        // v2: a new route on a new port, opened live
        const v2 = config(2, [
          service("db", upstream([MARIADB]), [{ server_port: port }]),
          service("db2", upstream([MARIADB]), [{ server_port: port2 }]),
        ]);
        const r2 = await gateway.apply(v2);
        assert.deepEqual(
          r2.opened.map((l) => l.port),
          [port2],
        );
        const viaNew = await run("mariadb", ["-h127.0.0.1", `-P${port2}`, "-uroot", "-N", "-e", "select 'new-port'"]);
        assert.equal(viaNew.stdout.trim(), "new-port", viaNew.stderr);
        await session.query("select 'q2'", "q2");

        // v3: runtime upstream change: new connections go to the forwarder, the open session stays put
        const v3 = config(3, [
          service("db", upstream([{ port: fwd.port }]), [{ server_port: port }]),
          service("db2", upstream([MARIADB]), [{ server_port: port2 }]),
        ]);
        await gateway.apply(v3);
        const before3 = fwd.connections;
        const viaNode = await run("mariadb", ["-h127.0.0.1", `-P${port}`, "-uroot", "-N", "-e", "select 'moved'"]);
        assert.equal(viaNode.stdout.trim(), "moved", viaNode.stderr);
        assert.equal(fwd.connections, before3 + 1);
        await session.query("select 'q3'", "q3");

        // v4 = rollback to v1's content: port2 is unpublished and closes; the session goes on
        const r4 = await gateway.apply({ ...v1, version: 4 });
        assert.deepEqual(
          r4.closed.map((l) => l.port),
          [port2],
        );
        await assert.rejects(
          run("mariadb", ["-h127.0.0.1", `-P${port2}`, "-uroot", "-e", "select 1"], 5000).then((r) => {
            if (r.code !== 0) throw new Error(r.stderr);
          }),
        );
        await session.query("select 'q4'", "q4");
        const viaOld = await run("mariadb", ["-h127.0.0.1", `-P${port}`, "-uroot", "-N", "-e", "select 'back'"]);
        assert.equal(viaOld.stdout.trim(), "back");
        assert.equal(fwd.connections, before3 + 1, "after the rollback new connections go to 127.0.0.1:3306 again");

        // v5: the route is removed: the session's connection is closed after the drain timeout
        await waitFor("only the long-lived session left", () => gateway.status().activeConnections === 1);
        const t0 = Date.now();
        await gateway.apply(config(5, []));
        assert.equal(gateway.status().draining, 1);
        await waitFor("drained session", () => accessLines().some((l) => l.close_reason === "drained"), 4000);
        const waited = Date.now() - t0;
        assert.ok(waited >= 900, `drained after ${waited} ms, before the drain timeout`);
        await session.query("select 'q5'", "ERROR");
        await waitFor("no active connections", () => gateway.status().activeConnections === 0);
        assert.equal(gateway.status().listeners.length, 0);
        assert.ok(!lines.some((l) => l.level === "error"), JSON.stringify(lines.filter((l) => l.level === "error")));
      } finally {
        session.close();
        await gateway.stop();
      }
    });

    test("a port that cannot be bound is reported and does not stop the others; out-of-range ports are refused", async () => {
      const blocker = net.createServer();
      await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
      const busy = (blocker.address() as net.AddressInfo).port;
      const { gateway } = startGateway();
      const good = await freePort();
      try {
        const report = await gateway.apply(
          config(
            1,
            [
              service("busy", upstream([MARIADB]), [{ server_port: busy }]),
              service("good", upstream([MARIADB]), [{ server_port: good }]),
              service("far", upstream([MARIADB]), [{ server_port: 1 }]),
            ],
            [{ from: 1024, to: 65535 }],
          ),
        );
        assert.deepEqual(
          report.opened.map((l) => l.port),
          [good],
        );
        const failed = Object.fromEntries(report.failed.map((l) => [l.port, l.error]));
        assert.match(failed[busy]!, /EADDRINUSE/);
        assert.match(failed[1]!, /stream_port_ranges/);
        const status = gateway.status();
        assert.equal(status.version, 1);
        assert.equal(status.listeners.find((l) => l.port === busy)!.state, "error");
        const ok = await run("mariadb", ["-h127.0.0.1", `-P${good}`, "-uroot", "-N", "-e", "select 7"]);
        assert.equal(ok.stdout.trim(), "7");
        // the port frees up: the next apply binds it
        await new Promise<void>((r) => blocker.close(() => r()));
        await sleep(50);
        const again = await gateway.apply(
          config(2, [
            service("busy", upstream([MARIADB]), [{ server_port: busy }]),
            service("good", upstream([MARIADB]), [{ server_port: good }]),
          ]),
        );
        assert.deepEqual(
          again.opened.map((l) => l.port),
          [busy],
        );
      } finally {
        await gateway.stop();
        blocker.close();
      }
    });
  });
});
