/**
 * Real clients and servers through the gateway: Redis with redis-cli and redis-benchmark, DNS over a
 * UDP route with dnsmasq and dig (many concurrent clients, and a flood from many source ports), and TLS
 * passthrough chosen by SNI between two `openssl s_server` backends on one gateway port.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { selfSignedCertificate } from "../fixtures/certificates.ts";
import { config, service, startGateway, tcpUp, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { killDaemon, requireCommand, run, spawnDaemon } from "../fixtures/processes.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

describe("redis through the gateway", () => {
  before(async () => {
    requireCommand("redis-cli", "scripts/deps/proxy.sh");
    requireCommand("redis-benchmark", "scripts/deps/proxy.sh");
    assert.ok(await tcpUp(6379), "Redis must be running on 127.0.0.1:6379 (scripts/services.sh starts it)");
  });

  test("redis-cli and a bounded redis-benchmark run without errors", async () => {
    const { gateway, accessLines } = startGateway();
    const port = await freePort();
    await gateway.apply(config(1, [service("redis", upstream([{ port: 6379 }]), [{ server_port: port }])]));
    try {
      const key = `sluice-test-${process.pid}`;
      const set = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "set", key, "v1"]);
      assert.equal(set.stdout.trim(), "OK", set.stderr);
      const get = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "get", key]);
      assert.equal(get.stdout.trim(), "v1");
      await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "del", key]);
      const bench = await run(
        "redis-benchmark",
        ["-h", "127.0.0.1", "-p", String(port), "-n", "20000", "-c", "20", "-t", "set,get", "-q"],
        60_000,
      );
      assert.equal(bench.code, 0, bench.stderr);
      assert.match(bench.stdout, /SET: [\d.]+ requests per second/);
      assert.match(bench.stdout, /GET: [\d.]+ requests per second/);
      assert.doesNotMatch(bench.stdout + bench.stderr, /error|Error/);
      await waitFor("all connections closed", () => gateway.status().activeConnections === 0, 5000);
      assert.ok(accessLines().length >= 40);
      assert.ok(accessLines().every((l) => l.code === 200));
    } finally {
      await gateway.stop();
    }
  });
});

/** A DNS A query (id 0x1234, recursion desired) for `name`. */
function dnsQuery(name: string): Buffer {
  const labels = name.split(".").flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

describe("dns over a udp route", () => {
  let dnsPort = 0;
  let dnsmasq: ReturnType<typeof spawnDaemon> | undefined;
  before(async () => {
    requireCommand("dnsmasq", "scripts/deps/proxy.sh");
    requireCommand("dig", "scripts/deps/proxy.sh");
    dnsPort = await freePort("udp");
    const args = [
      "--keep-in-foreground",
      "--no-resolv",
      "--no-hosts",
      "--no-daemon",
      "--conf-file=/dev/null",
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      `--port=${dnsPort}`,
      "--user=root",
      "--pid-file=",
      "--log-facility=-",
    ];
    for (let i = 0; i < 30; i++) args.push(`--host-record=host${i}.sluice.test,10.9.0.${i + 1}`);
    args.push("--address=/wild.sluice.test/10.8.0.1");
    dnsmasq = spawnDaemon("dnsmasq", args);
    await waitFor(
      "dnsmasq to answer",
      () => {
        try {
          const out = execFileSync("dig", [
            "+short",
            "+time=1",
            "+tries=1",
            `@127.0.0.1`,
            "-p",
            String(dnsPort),
            "host0.sluice.test",
          ]);
          return String(out).trim() === "10.9.0.1";
        } catch {
          return false;
        }
      },
      8000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}: ${dnsmasq?.output()}`);
    });
  });
  after(async () => {
    if (dnsmasq) await killDaemon(dnsmasq);
  });

  test("dig through the gateway; many concurrent clients each get their own answer", async () => {
    const { gateway, accessLines } = startGateway();
    const port = await freePort("udp");
    await gateway.apply(
      config(1, [
        service(
          "dns",
          // idle timeout 2 s: 30 dig processes start at once on 2 shared cores, and a session that idles out
          // before dnsmasq's answer arrives would drop it (correctly) and fail the test for the wrong reason
          upstream([{ port: dnsPort }], { scheme: "udp", timeout: { connect: 1, send: 2, read: 2 } }),
          [{ server_port: port }],
        ),
      ]),
    );
    try {
      const one = await run("dig", [
        "+short",
        "+time=2",
        "+tries=1",
        "@127.0.0.1",
        "-p",
        String(port),
        "wild.sluice.test",
      ]);
      assert.equal(one.stdout.trim(), "10.8.0.1", one.stderr);
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          run("dig", ["+short", "+time=3", "+tries=1", "@127.0.0.1", "-p", String(port), `host${i}.sluice.test`]),
        ),
      );
      answers.forEach((a, i) => {
        assert.equal(a.stdout.trim(), `10.9.0.${i + 1}`, `client ${i}: ${a.stdout} ${a.stderr}`);
      });
      assert.ok(gateway.status().activeUdpSessions >= 1);
      // sessions end at the idle timeout, one access line each
      await waitFor("udp sessions to idle out", () => gateway.status().activeUdpSessions === 0, 8000);
      const udpLines = accessLines().filter((l) => l.access === "udp");
      assert.equal(udpLines.length, 31);
      assert.ok(udpLines.every((l) => l.close_reason === "idle_timeout" && (l.bytes_to_client as number) > 0));
    } finally {
      await gateway.stop();
    }
  });

  test("upstream.udp.responses: 1 ends a DNS session with its answer, not at the idle timeout", async () => {
    const { gateway, accessLines } = startGateway();
    const port = await freePort("udp");
    await gateway.apply(
      config(1, [
        service(
          "dns",
          upstream([{ port: dnsPort }], {
            scheme: "udp",
            udp: { responses: 1 },
            timeout: { connect: 1, send: 600, read: 600 },
          }),
          [{ server_port: port }],
          { prometheus: {} },
        ),
      ]),
    );
    try {
      for (const name of ["host1.sluice.test", "host2.sluice.test"]) {
        const answer = await run("dig", ["+short", "+time=2", "+tries=1", "@127.0.0.1", "-p", String(port), name]);
        assert.match(answer.stdout.trim(), /^10\.9\.0\.[23]$/, answer.stderr);
      }
      await waitFor("both sessions to end after their answer", () => accessLines().length === 2, 3000);
      assert.equal(gateway.status().activeUdpSessions, 0);
      for (const line of accessLines()) {
        assert.equal(line.close_reason, "responses_received");
        assert.ok((line.bytes_to_client as number) > 0);
      }
      const text = await gateway.metrics.text();
      assert.match(
        text,
        new RegExp(`sluice_stream_active_connections\\{listen_addr="127\\.0\\.0\\.1:${port}"\\} 0\\n`),
      );
    } finally {
      await gateway.stop();
    }
  });

  test("a flood from many source ports: sessions stay bounded, the oldest are evicted, answers still flow", async () => {
    const { gateway } = startGateway({ udpMaxSessions: 50 });
    const port = await freePort("udp");
    await gateway.apply(
      config(1, [
        service("dns", upstream([{ port: dnsPort }], { scheme: "udp", timeout: { connect: 1, send: 30, read: 30 } }), [
          { server_port: port },
        ]),
      ]),
    );
    const sockets: dgram.Socket[] = [];
    try {
      // a valid query for host0 (id 0x1234), sent from 400 source ports
      const query = dnsQuery("host0.sluice.test");
      for (let i = 0; i < 400; i++) {
        const s = dgram.createSocket("udp4");
        s.on("error", () => {});
        sockets.push(s);
        await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
        s.send(query, port, "127.0.0.1");
        // let the event loop poll now and then: ~256 queued datagrams fill a default socket buffer
        if (i % 20 === 19) await sleep(5);
        assert.ok(gateway.status().activeUdpSessions <= 50);
      }
      await waitFor(
        "every source port to get a session",
        () => gateway.status().counters.udpSessions === 400,
        5000,
      ).catch((e) => {
        throw new Error(`${(e as Error).message}: ${JSON.stringify(gateway.status())}`);
      });
      const status = gateway.status();
      assert.ok(status.activeUdpSessions <= 50, `${status.activeUdpSessions} sessions`);
      assert.ok(status.counters.udpSessionsEvicted >= 350, JSON.stringify(status));
      const after = await run("dig", [
        "+short",
        "+time=2",
        "+tries=2",
        "@127.0.0.1",
        "-p",
        String(port),
        "host3.sluice.test",
      ]);
      assert.equal(after.stdout.trim(), "10.9.0.4");
      // unmatched datagrams (no route on the port any more) are dropped and counted
      await gateway.apply(config(2, []));
      await waitFor("sessions drained", () => gateway.status().activeUdpSessions === 0, 4000);
      assert.equal(gateway.status().listeners.length, 0);
    } finally {
      for (const s of sockets) s.close();
      await gateway.stop();
    }
  });
});

describe("tls passthrough by sni", () => {
  let dir = "";
  const servers: ReturnType<typeof spawnDaemon>[] = [];
  const ports: number[] = [];
  before(async () => {
    requireCommand("openssl", "scripts/deps/proxy.sh");
    dir = mkdtempSync(join(tmpdir(), "sluice-sni-"));
    for (const name of ["alpha", "beta"]) {
      const { certFile: cert, keyFile: key } = selfSignedCertificate(`${name}.sluice.test`, { days: 1, dir, name });
      const port = await freePort();
      ports.push(port);
      servers.push(
        spawnDaemon("openssl", [
          "s_server",
          "-accept",
          `127.0.0.1:${port}`,
          "-cert",
          cert,
          "-key",
          key,
          "-www",
          "-naccept",
          "50",
        ]),
      );
    }
    for (const port of ports) await waitFor(`s_server on ${port}`, () => false, 0).catch(() => {});
    for (const port of ports) {
      const deadline = Date.now() + 5000;
      while (!(await tcpUp(port))) {
        if (Date.now() > deadline) throw new Error(`openssl s_server on ${port} did not start`);
        await sleep(50);
      }
    }
  });
  after(async () => {
    for (const s of servers) await killDaemon(s);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function subject(port: number, servername: string | undefined): Promise<string> {
    const args = ["s_client", "-connect", `127.0.0.1:${port}`];
    if (servername) args.push("-servername", servername);
    else args.push("-noservername");
    const r = await run("openssl", args, 10_000, "Q\n");
    const m = /subject=.*CN\s*=\s*([\w.-]+)/.exec(r.stdout);
    return m ? m[1]! : `no certificate (${r.stderr.split("\n")[0]})`;
  }

  test("openssl s_client -servername picks the backend; bytes pass through untouched", async () => {
    const { gateway, accessLines } = startGateway({ sniTimeoutMs: 1000 });
    const port = await freePort();
    await gateway.apply(
      config(1, [
        service("alpha", upstream([{ port: ports[0]! }]), [{ server_port: port, sni: "alpha.sluice.test" }]),
        service("beta", upstream([{ port: ports[1]! }]), [{ server_port: port, sni: "*.beta.sluice.test" }]),
        service("fallback", upstream([{ port: ports[1]! }]), [{ server_port: port, sni: "*.sluice.test" }]),
      ]),
    );
    try {
      assert.equal(await subject(port, "alpha.sluice.test"), "alpha.sluice.test");
      assert.equal(await subject(port, "www.beta.sluice.test"), "beta.sluice.test");
      assert.equal(await subject(port, "ALPHA.sluice.test"), "alpha.sluice.test");
      // no sni route matches and there is no route without sni: closed, counted
      assert.match(await subject(port, "other.example"), /no certificate/);
      assert.match(await subject(port, undefined), /no certificate/);
      assert.equal(gateway.status().counters.tcpNoRoute, 2);
      await waitFor("access lines", () => accessLines().length === 3);
      assert.deepEqual(
        accessLines().map((l) => [l.sni, l.service]),
        [
          ["alpha.sluice.test", "svc-alpha"],
          ["www.beta.sluice.test", "svc-beta"],
          ["alpha.sluice.test", "svc-alpha"],
        ],
      );
    } finally {
      await gateway.stop();
    }
  });

  test("a client without a ClientHello falls to the route without sni after the peek limits", async () => {
    const { gateway } = startGateway({ sniTimeoutMs: 1000 });
    const port = await freePort();
    const plain = net.createServer((s) => {
      s.on("error", () => {});
      s.end("plain\n");
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    await gateway.apply(
      config(1, [
        service("alpha", upstream([{ port: ports[0]! }]), [{ server_port: port, sni: "alpha.sluice.test" }]),
        service("plain", upstream([{ port: (plain.address() as net.AddressInfo).port }]), [{ server_port: port }]),
      ]),
    );
    try {
      assert.equal(await subject(port, "alpha.sluice.test"), "alpha.sluice.test");
      // a silent client (a server-first protocol) waits the SNI timeout, then goes to the plain route
      const t0 = Date.now();
      const got = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1");
        let d = "";
        s.on("data", (c) => {
          d += c;
        });
        s.on("end", () => resolve(d));
        s.on("error", reject);
      });
      assert.equal(got, "plain\n");
      assert.ok(Date.now() - t0 >= 950, "routed before the SNI timeout");
      // a client speaking something other than TLS is routed at once
      const t1 = Date.now();
      const got2 = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
        let d = "";
        s.on("data", (c) => {
          d += c;
        });
        s.on("end", () => resolve(d));
        s.on("error", reject);
      });
      assert.equal(got2, "plain\n");
      assert.ok(Date.now() - t1 < 700, "a non-TLS client should not wait for the SNI timeout");
    } finally {
      await gateway.stop();
      plain.close();
    }
  });
});
