import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import type { NodeHealth } from "../../src/proxy/health/types.ts";
import type { StreamPlugin, StreamSession } from "../../src/proxy/plugins/types.ts";
import {
  blackholeListener,
  config,
  firstLine,
  namedEchoServer,
  service,
  startGateway,
  upstream,
} from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

type Echo = Awaited<ReturnType<typeof namedEchoServer>>;

describe("tcp proxy", () => {
  const echoes: Echo[] = [];
  before(async () => {
    for (const name of ["a", "b", "c"]) echoes.push(await namedEchoServer(name));
  });
  after(async () => {
    for (const e of echoes) await e.close();
  });

  test("proxies both ways, routes by remote_addr, closes and counts unmatched clients, logs each connection", async () => {
    const { gateway, accessLines } = startGateway();
    const port = await freePort();
    const report = await gateway.apply(
      config(1, [
        service("s1", upstream([{ port: echoes[0]!.port }]), [{ server_port: port, remote_addr: "127.0.0.1" }]),
      ]),
    );
    assert.equal(report.opened.length, 1);
    assert.equal(report.opened[0]!.port, port);
    try {
      assert.equal(await firstLine(port), "a");
      // echo round trip through the gateway
      const echoed = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1");
        let got = "";
        s.on("data", (d) => {
          got += d;
          if (got.includes("ping-123")) {
            s.end();
            resolve(got);
          }
        });
        s.on("error", reject);
        s.write("ping-123");
      });
      assert.match(echoed, /^a\nping-123/);
      await assert.rejects(firstLine(port, "127.0.0.2"), /closed|ECONNRESET/);
      await waitFor("access lines", () => accessLines().length === 2);
      assert.equal(gateway.status().counters.tcpNoRoute, 1);
      const unmatched = await gateway.metrics.unmatched.get();
      assert.equal(unmatched.values.find((v) => v.labels.listen_addr === `127.0.0.1:${port}`)?.value, 1);
      const line = accessLines()[1]!;
      assert.equal(line.route, "route-s1-0");
      assert.equal(line.service, "svc-s1");
      assert.equal(line.node, `127.0.0.1:${echoes[0]!.port}`);
      assert.equal(line.code, 200);
      assert.equal(line.bytes_from_client, 8);
      assert.equal(line.bytes_to_client, 2 + 8);
      assert.equal(typeof line.duration_ms, "number");
      assert.match(String(line.client), /^127\.0\.0\.1:\d+$/);
      await waitFor("no active connections", () => gateway.status().activeConnections === 0);
    } finally {
      await gateway.stop();
    }
  });

  test("the most specific route wins: server_addr, then remote_addr prefix", async () => {
    const { gateway } = startGateway();
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service("wide", upstream([{ port: echoes[0]!.port }]), [{ server_port: port }]),
        service("lan", upstream([{ port: echoes[1]!.port }]), [{ server_port: port, remote_addr: "127.0.0.0/8" }]),
        service("one", upstream([{ port: echoes[2]!.port }]), [{ server_port: port, remote_addr: "127.0.0.3/32" }]),
      ]),
    );
    try {
      assert.equal(await firstLine(port, "127.0.0.2"), "b");
      assert.equal(await firstLine(port, "127.0.0.3"), "c");
      assert.equal(await firstLine(port, "127.0.0.1"), "b");
    } finally {
      await gateway.stop();
    }
  });

  test("weighted round robin spreads connections by weight; chash keeps a client on one node", async () => {
    const { gateway } = startGateway();
    const rr = await freePort();
    const ch = await freePort();
    const nodes = [
      { port: echoes[0]!.port, weight: 5 },
      { port: echoes[1]!.port, weight: 2 },
      { port: echoes[2]!.port, weight: 1 },
    ];
    await gateway.apply(
      config(1, [
        service("rr", upstream(nodes), [{ server_port: rr }]),
        service("ch", upstream(nodes, { type: "chash", key: "remote_addr" }), [{ server_port: ch }]),
      ]),
    );
    try {
      const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
      for (let i = 0; i < 40; i++) counts[await firstLine(rr)]!++;
      assert.deepEqual(counts, { a: 25, b: 10, c: 5 });

      const seen = new Map<string, Set<string>>();
      for (let i = 0; i < 6; i++) {
        for (const source of ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]) {
          const node = await firstLine(ch, source);
          if (!seen.has(source)) seen.set(source, new Set());
          seen.get(source)!.add(node);
        }
      }
      for (const [source, nodesSeen] of seen) assert.equal(nodesSeen.size, 1, `${source} moved between nodes`);
    } finally {
      await gateway.stop();
    }
  });

  test("a refused node is retried on another node; with no node left the client is closed with 502", async () => {
    const { gateway, accessLines, lines } = startGateway();
    const dead = await freePort();
    const port = await freePort();
    const port2 = await freePort();
    await gateway.apply(
      config(1, [
        service("r", upstream([{ port: dead }, { port: echoes[1]!.port }]), [{ server_port: port }]),
        service("none", upstream([{ port: dead }]), [{ server_port: port2 }]),
      ]),
    );
    try {
      for (let i = 0; i < 4; i++) assert.equal(await firstLine(port), "b");
      assert.ok(lines.some((l) => l.msg === "upstream connect failed" && l.code === "ECONNREFUSED"));
      await assert.rejects(firstLine(port2), /closed|ECONNRESET/);
      await waitFor("502 line", () => accessLines().some((l) => l.code === 502));
      const failed = accessLines().find((l) => l.code === 502)!;
      assert.equal(failed.close_reason, "connect_failed");
      assert.equal(gateway.status().counters.upstreamFailures, 1);
    } finally {
      await gateway.stop();
    }
  });

  test("half-close is propagated: the upstream's answer after the client's FIN still arrives", async () => {
    // An upstream that answers only once the client has finished sending (like `wc`).
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on("data", (d) => {
        n += d.length;
      });
      s.on("end", () => s.end(`count=${n}\n`));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { gateway, accessLines } = startGateway();
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service("h", upstream([{ port: (server.address() as net.AddressInfo).port }]), [{ server_port: port }]),
      ]),
    );
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
        let got = "";
        s.on("data", (d) => {
          got += d;
        });
        s.on("end", () => {
          s.end();
          resolve(got);
        });
        s.on("error", reject);
        s.end(Buffer.alloc(100_000, 1));
      });
      assert.equal(answer, "count=100000\n");
      await waitFor("access line", () => accessLines().length === 1);
      assert.equal(accessLines()[0]!.close_reason, "client_closed");
      await waitFor("no active connections", () => gateway.status().activeConnections === 0);
    } finally {
      await gateway.stop();
      server.close();
    }
  });

  test("timeout.fin: a client that half-closes while the upstream keeps its half open is closed, and stop does not wait for it", async () => {
    // An upstream that answers each request at once but never closes its own half; the second kind
    // of request ("slow") is answered 100 ms after the client's FIN, with 1 MiB.
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      s.on("data", (d) => {
        if (String(d) === "slow") s.once("end", () => setTimeout(() => s.write(Buffer.alloc(1024 * 1024, 7)), 100));
        else s.write(`got ${d}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { gateway, accessLines } = startGateway({ drainTimeoutMs: 60_000 });
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service(
          "fin",
          upstream([{ port: (server.address() as net.AddressInfo).port }], {
            timeout: { connect: 2, send: 600, read: 600, fin: 1 },
          }),
          [{ server_port: port }],
        ),
      ]),
    );
    // resolves when the gateway has closed the connection (a timeout resets it), with the bytes received
    const halfClose = (request: string) =>
      new Promise<{ bytes: number }>((resolve) => {
        const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
        let bytes = 0;
        s.on("data", (d) => {
          bytes += d.length;
        });
        s.on("error", () => {});
        s.on("close", () => resolve({ bytes }));
        s.end(request);
      });
    /** the promise's value, or a failure naming `what` when it takes more than 8 s */
    const within = async <T>(promise: Promise<T>, what: string): Promise<T> => {
      let value: { v: T } | undefined;
      promise.then((v) => {
        value = { v };
      });
      await waitFor(what, () => value !== undefined, 8000);
      return value!.v;
    };
    try {
      // the whole answer still arrives after the client's FIN
      const slow = await within(halfClose("slow"), "the slow answer's connection to close");
      assert.equal(slow.bytes, 1024 * 1024);
      // the upstream never closes: the gateway closes both sides after the fin timeout, not at 600 s
      const held = await within(halfClose("ping"), "the gateway to close a half-closed connection");
      assert.equal(held.bytes, "got ping".length);
      await waitFor("access lines", () => accessLines().length === 2);
      assert.deepEqual(
        accessLines().map((l) => l.close_reason),
        ["fin_timeout", "fin_timeout"],
      );
      assert.equal(gateway.status().activeConnections, 0);
      // stopping with a half-closed connection open: it ends at the fin timeout, not the 60 s drain
      const third = halfClose("third");
      await waitFor("a third connection", () => gateway.status().activeConnections === 1);
      let stopped = false;
      const stopping = gateway.stop().then(() => {
        stopped = true;
      });
      await waitFor("stop to finish with the half-closed connection", () => stopped, 8000);
      await stopping;
      assert.equal((await third).bytes, "got third".length);
      assert.equal(accessLines()[2]!.close_reason, "fin_timeout");
    } finally {
      await gateway.stop();
      server.close();
    }
  });

  test("a connect timeout past 2^31-1 ms does not fire at once: the gateway keeps waiting for the node", async () => {
    const blackhole = await blackholeListener();
    const hole = blackhole.port;
    const { gateway, accessLines } = startGateway();
    try {
      const [port, holePort] = [await freePort(), await freePort()];
      const huge = { connect: 2_200_000, send: 60, read: 60 };
      await gateway.apply(
        config(1, [
          // a live node with the huge timeout serves every connection
          service("live", upstream([{ port: echoes[0]!.port }], { timeout: huge }), [{ server_port: port }]),
          service("hole", upstream([{ port: hole }], { timeout: huge }), [{ server_port: holePort }]),
        ]),
      );
      for (let i = 0; i < 10; i++) assert.equal(await firstLine(port), "a");
      const client = net.connect({ port: holePort, host: "127.0.0.1" });
      let closed = false;
      client.on("error", () => {});
      client.on("close", () => {
        closed = true;
      });
      await sleep(1000);
      assert.equal(closed, false, "the connect attempt is still waiting for the node");
      assert.equal(accessLines().filter((l) => l.close_reason === "connect_failed").length, 0);
      client.destroy();
    } finally {
      await blackhole.stop();
      await gateway.stop();
    }
  });

  test("a slow reader: the gateway holds a bounded amount, and the whole stream arrives intact", async () => {
    const total = 32 * 1024 * 1024;
    const server = net.createServer((s) => {
      const block = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += block.length;
          if (!s.write(block)) return void s.once("drain", pump);
        }
        s.end();
      };
      pump();
      s.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { gateway } = startGateway();
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service("slow", upstream([{ port: (server.address() as net.AddressInfo).port }]), [{ server_port: port }]),
      ]),
    );
    try {
      const client = net.connect(port, "127.0.0.1");
      client.pause();
      await new Promise((r) => client.once("connect", r));
      // Reader stalls: the upstream fills the kernel buffers and the gateway must stop reading it.
      await sleep(800);
      const rss0 = process.memoryUsage().rss;
      await sleep(400);
      const growth = process.memoryUsage().rss - rss0;
      assert.ok(growth < 8 * 1024 * 1024, `gateway memory grew by ${growth} bytes while the reader was stalled`);
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        client.on("data", (d) => {
          received += d.length;
        });
        client.on("end", () => resolve());
        client.on("error", reject);
        client.resume();
      });
      assert.equal(received, total);
    } finally {
      await gateway.stop();
      server.close();
    }
  });

  test("bad input: silent client and silent upstream hit the idle timeout, a mid-stream reset frees both sides", async () => {
    const silentUpstream = net.createServer(() => {});
    const held = new Set<net.Socket>();
    silentUpstream.on("connection", (s) => {
      held.add(s);
      s.on("error", () => {});
      s.on("close", () => held.delete(s));
    });
    await new Promise<void>((r) => silentUpstream.listen(0, "127.0.0.1", r));
    const { gateway, accessLines } = startGateway();
    const idle = await freePort();
    const echoPort = await freePort();
    await gateway.apply(
      config(1, [
        service(
          "idle",
          upstream([{ port: (silentUpstream.address() as net.AddressInfo).port }], {
            timeout: { connect: 1, send: 0.3, read: 0.3 },
          }),
          [{ server_port: idle }],
        ),
        service("echo", upstream([{ port: echoes[0]!.port }]), [{ server_port: echoPort }]),
      ]),
    );
    try {
      // a client that connects and sends nothing, to an upstream that never answers
      const started = Date.now();
      const closedBy = await new Promise<string>((resolve) => {
        const s = net.connect(idle, "127.0.0.1");
        s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
        s.on("close", () => resolve("close"));
      });
      const waited = Date.now() - started;
      assert.ok(waited >= 250 && waited < 2500, `closed after ${waited} ms`);
      assert.match(closedBy, /ECONNRESET|close/);
      await waitFor("idle access line", () => accessLines().some((l) => l.close_reason === "idle_timeout"));
      await waitFor("upstream side freed", () => held.size === 0);

      // a client that resets mid-stream
      await new Promise<void>((resolve) => {
        const s = net.connect(echoPort, "127.0.0.1");
        s.once("data", () => {
          s.write("partial");
          // (a reset from inside a 'data' handler goes out as a FIN on Node 20: do it from a timer)
          setTimeout(() => {
            s.resetAndDestroy();
            resolve();
          }, 50);
        });
      });
      await waitFor(
        "reset access line",
        () => accessLines().some((l) => l.close_reason === "client_reset"),
        3000,
      ).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(accessLines())}`);
      });
      await waitFor("no active connections", () => gateway.status().activeConnections === 0);
      assert.equal(gateway.status().activeConnections, 0);
    } finally {
      await gateway.stop();
      for (const s of held) s.destroy();
      silentUpstream.close();
    }
  });

  test("plugins: priority order, reject before any upstream byte, delay, log exactly once per connection", async () => {
    const calls: string[] = [];
    const logged: StreamSession[] = [];
    let disposed = 0;
    const denyList: StreamPlugin<{ deny: string[] }> = {
      name: "deny-list",
      priority: 3000,
      schema: () => z.object({ deny: z.array(z.string()).default([]) }),
      create: (conf) => ({
        preread: (s) => {
          calls.push("deny-list");
          return conf.deny.includes(s.client.address) ? { reject: 403 } : undefined;
        },
        log: (s) => {
          logged.push(s);
        },
        dispose: () => {
          disposed++;
        },
      }),
    };
    const slow: StreamPlugin<{ ms: number }> = {
      name: "slow",
      priority: 1000,
      schema: () => z.object({ ms: z.number() }),
      create: (conf) => ({
        preread: async () => {
          calls.push("slow");
          return { delayMs: conf.ms };
        },
      }),
    };
    const counter: StreamPlugin<Record<string, never>> = {
      name: "counter",
      priority: 500,
      schema: () => z.object({}),
      create: (_conf, env) => ({
        log: () => {
          env.shared.set("n", ((env.shared.get("n") as number | undefined) ?? 0) + 1);
        },
      }),
    };
    const plugins = new Map<string, StreamPlugin<never>>([
      ["deny-list", denyList as unknown as StreamPlugin<never>],
      ["slow", slow as unknown as StreamPlugin<never>],
      ["counter", counter as unknown as StreamPlugin<never>],
    ]);
    const { gateway, accessLines } = startGateway({ plugins });
    const port = await freePort();
    const echo = echoes[0]!;
    const before = echo.connections;
    const cfg = (v: number) =>
      config(v, [
        service(
          "p",
          upstream([{ port: echo.port }]),
          [{ server_port: port, plugins: { "deny-list": { deny: ["127.0.0.2"] } } }],
          { slow: { ms: 150 }, counter: {}, "deny-list": { deny: [] } },
        ),
      ]);
    await gateway.apply(cfg(1));
    try {
      const t0 = Date.now();
      assert.equal(await firstLine(port), "a");
      assert.ok(Date.now() - t0 >= 140, "the delay verdict was not honoured");
      assert.deepEqual(calls, ["deny-list", "slow"]);
      await assert.rejects(firstLine(port, "127.0.0.2"), /closed|ECONNRESET/);
      await waitFor("two access lines", () => accessLines().length === 2);
      assert.equal(echo.connections - before, 1, "the rejected client must not reach the upstream");
      const rejected = accessLines().find((l) => l.code === 403)!;
      assert.equal(rejected.close_reason, "rejected");
      assert.equal(logged.length, 2);
      assert.deepEqual(logged.map((s) => s.code).sort(), [200, 403]);
      // re-apply: the old instances are disposed (no session holds them), shared state survives
      await gateway.apply(cfg(2));
      assert.equal(disposed, 1);
      assert.equal(await firstLine(port), "a");
      await waitFor("three log calls", () => logged.length === 3);
      assert.equal(gateway.status().counters.rejected, 1);
    } finally {
      await gateway.stop();
    }
  });

  test("stop: no new connections, open ones drain until the timeout, then stop resolves with nothing left", async () => {
    const { gateway, accessLines } = startGateway({ drainTimeoutMs: 400 });
    const port = await freePort();
    await gateway.apply(config(1, [service("s", upstream([{ port: echoes[0]!.port }]), [{ server_port: port }])]));
    const held = net.connect(port, "127.0.0.1");
    held.on("error", () => {});
    await new Promise((r) => held.once("data", r));
    const closed = new Promise((r) => held.once("close", r));
    const t0 = Date.now();
    await gateway.stop();
    const took = Date.now() - t0;
    assert.ok(took >= 350 && took < 2000, `stop took ${took} ms`);
    await closed;
    await assert.rejects(firstLine(port), /ECONNREFUSED/);
    assert.equal(gateway.status().activeConnections, 0);
    assert.equal(accessLines()[0]!.close_reason, "drained");
  });

  test("a client sending a huge non-ClientHello TLS record on an sni port is routed without sni after the peek limit", async () => {
    const { gateway } = startGateway();
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service("tls", upstream([{ port: echoes[0]!.port }]), [{ server_port: port, sni: "x.test" }]),
        service("plain", upstream([{ port: echoes[1]!.port }]), [{ server_port: port }]),
      ]),
    );
    try {
      // a ClientHello announced as 60 KB, spread over full records: the gateway stops looking at 16 KiB
      const got = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => {
          const record = (body: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), body]);
          s.write(record(Buffer.concat([Buffer.from([0x01, 0x00, 0xea, 0x60]), Buffer.alloc(16380, 0x41)])));
          s.write(record(Buffer.alloc(16384, 0x41)));
        });
        s.on("data", (d) => {
          const text = String(d);
          s.destroy();
          resolve(text.slice(0, 2));
        });
        s.on("error", reject);
      });
      assert.equal(got, "b\n");
    } finally {
      await gateway.stop();
    }
  });

  test("a node whose connects time out is reported to health checks and the next node serves the client", async () => {
    const blackhole = await blackholeListener();
    try {
      const hole = blackhole.port;
      const reports: string[] = [];
      const health: NodeHealth = {
        isHealthy: () => true,
        reportConnect: (_service, node, outcome) => reports.push(`${node} ${outcome}`),
      };
      const { gateway, accessLines } = startGateway({ nodeHealth: health });
      const port = await freePort();
      await gateway.apply(
        config(1, [
          service(
            "t",
            upstream([{ port: hole, priority: 1 }, { port: echoes[2]!.port }], {
              timeout: { connect: 0.3, send: 5, read: 5 },
            }),
            [{ server_port: port }],
          ),
        ]),
      );
      try {
        const t0 = Date.now();
        assert.equal(await firstLine(port), "c");
        assert.ok(Date.now() - t0 >= 250, "the first attempt should have waited for the connect timeout");
        assert.deepEqual(reports, [`127.0.0.1:${hole} timeout`, `127.0.0.1:${echoes[2]!.port} ok`]);
        await waitFor("access line", () => accessLines().length === 1);
        assert.equal(accessLines()[0]!.node, `127.0.0.1:${echoes[2]!.port}`);
        assert.ok((accessLines()[0]!.connect_ms as number) >= 250, "connect_ms counts the timed-out attempt");
      } finally {
        await gateway.stop();
      }
    } finally {
      await blackhole.stop();
    }
  });
});
