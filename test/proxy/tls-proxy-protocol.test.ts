/**
 * TLS at the edge and the real client address, with real clients and peers: curl, openssl s_client /
 * s_server, redis-cli against the shared Redis, HAProxy sending PROXY headers in front of the gateway,
 * nginx (stream, `listen … proxy_protocol`) behind it. The gateway runs in-process on the Node adapter
 * and is fed compiled configs directly.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { upstreamChecks } from "../../src/config/schema.ts";
import type { GatewayConfig } from "../../src/config/types.ts";
import { encodeProxyV2 } from "../../src/proxy/proxy-protocol.ts";
import { config, firstLine, namedEchoServer, service, startGateway, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { killDaemon, requireCommand, run, spawnDaemon } from "../fixtures/processes.ts";
import { waitFor } from "../fixtures/wait.ts";
import { type CertFiles, makeCertificates } from "./fixtures/tls-certs.ts";

const REDIS_PORT = 6379;

function withTls(c: GatewayConfig, extra: Partial<GatewayConfig>): GatewayConfig {
  return { ...c, ...extra };
}

async function httpServer(body: string): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** A TLS front for the shared Redis: what a `scheme: "tls"` upstream connects to. */
async function tlsRedisFront(certs: CertFiles): Promise<{ port: number; close: () => void }> {
  const server = tls.createServer({ cert: certs.pem("r.crt"), key: certs.pem("r.key") }, (socket) => {
    const redis = net.connect(REDIS_PORT, "127.0.0.1");
    socket.pipe(redis).pipe(socket);
    socket.on("error", () => redis.destroy());
    redis.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The subject CN the server presented, as the client saw it. */
function peerName(port: number, servername: string, ca: string): Promise<{ cn: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca }, () => {
      resolve({ cn: String(socket.getPeerCertificate().subject.CN), socket });
    });
    socket.once("error", reject);
  });
}

function lineFrom(socket: tls.TLSSocket | net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const onData = (chunk: Buffer) => {
      data += chunk;
      const nl = data.indexOf("\n");
      if (nl >= 0) {
        socket.off("data", onData);
        resolve(data.slice(0, nl));
      }
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error(`closed, got '${data}'`)));
  });
}

describe("TLS termination, mTLS, TLS upstreams (curl, openssl, redis-cli)", () => {
  let certs: CertFiles;
  const cleanups: (() => unknown)[] = [];
  let g: ReturnType<typeof startGateway>;
  let port: number;
  let plainPort: number;
  let passthroughPort: number;
  let base: GatewayConfig;

  before(async () => {
    requireCommand("openssl", "scripts/deps/protocols.sh");
    requireCommand("curl", "scripts/deps/protocols.sh");
    requireCommand("redis-cli", "scripts/deps/protocols.sh");
    certs = makeCertificates();
    const a = await httpServer("backend-a");
    const b = await httpServer("backend-b");
    // answers and closes, so that s_client (which waits for the server with -ign_eof) exits
    const echo = net.createServer((socket) => socket.end("mtls-backend\n"));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const front = await tlsRedisFront(certs);
    cleanups.push(a.close, b.close, () => echo.close(), front.close);
    passthroughPort = await freePort();
    const sServer = spawnDaemon("openssl", [
      "s_server",
      "-accept",
      String(passthroughPort),
      "-cert",
      certs.path("c.crt"),
      "-key",
      certs.path("c.key"),
      "-www",
      "-quiet",
    ]);
    cleanups.push(() => killDaemon(sServer));
    await waitForPort(passthroughPort);
    port = await freePort();
    plainPort = await freePort();
    base = config(1, [
      service("a", upstream([{ port: a.port }]), [{ server_port: port, sni: "a.test", tls: "terminate" }]),
      service("b", upstream([{ port: b.port }]), [{ server_port: port, sni: "b.test", tls: "terminate" }]),
      service("c", upstream([{ port: passthroughPort }]), [{ server_port: port, sni: "c.test", tls: "passthrough" }]),
      service("m", upstream([{ port: echoPort }]), [{ server_port: port, sni: "m.test", tls: "terminate" }]),
      service("r", upstream([{ port: REDIS_PORT }]), [{ server_port: port, sni: "r.test", tls: "terminate" }]),
      service(
        "u",
        upstream([{ port: front.port }], { tls: { verify: true, ca: certs.pem("ca.crt"), sni: "r.test" } }),
        [{ server_port: plainPort }],
      ),
    ]);
    base = withTls(base, {
      ssls: [
        certs.ssl("a", ["a.test"]),
        certs.ssl("b", ["b.test"]),
        certs.ssl("m", ["m.test"], { client: { ca: certs.pem("ca.crt"), depth: 1 } }),
        certs.ssl("r", ["r.test"]),
      ],
    });
    g = startGateway();
    const report = await g.gateway.apply(base);
    assert.deepEqual(report.failed, []);
  });

  after(async () => {
    await g?.gateway.stop();
    for (const c of cleanups.reverse()) await c();
  });

  test("curl: two names on one port, each with its own certificate and backend; a third passes through to s_server", async () => {
    for (const [name, body] of [
      ["a.test", "backend-a"],
      ["b.test", "backend-b"],
    ] as const) {
      const r = await run("curl", [
        "-sv",
        "--cacert",
        certs.path("ca.crt"),
        "--resolve",
        `${name}:${port}:127.0.0.1`,
        `https://${name}:${port}/`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, body);
      assert.match(r.stderr, new RegExp(`subject: CN=${name.replace(".", "\\.")}`));
    }
    const through = await run("curl", [
      "-sv",
      "--cacert",
      certs.path("ca.crt"),
      "--resolve",
      `c.test:${port}:127.0.0.1`,
      `https://c.test:${port}/`,
    ]);
    assert.equal(through.code, 0, through.stderr);
    assert.match(through.stderr, /subject: CN=c\.test/);
    assert.match(through.stdout, /s_server/);
    const access = g.accessLines().find((l) => l.sni === "a.test");
    assert.ok(access, "an access line for a.test");
    assert.match(String(access.tls_version), /^TLSv1\.[23]$/);
    assert.ok(String(access.tls_cipher).length > 0);
  });

  test("redis-cli --tls --sni through a terminating route reaches the plain Redis", async () => {
    const r = await run("redis-cli", [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "--tls",
      "--sni",
      "r.test",
      "--cacert",
      certs.path("ca.crt"),
      "PING",
    ]);
    assert.equal(r.stdout.trim(), "PONG", r.stderr);
  });

  test("redis-cli in plaintext through a route whose upstream is TLS (verified against the CA)", async () => {
    const r = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(plainPort), "PING"]);
    assert.equal(r.stdout.trim(), "PONG", r.stderr);
  });

  test("mTLS: a client certificate from the CA passes; none, or another CA's, is closed and counted as 403", async () => {
    const sClient = (extra: string[]) =>
      run(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "m.test", "-CAfile", certs.path("ca.crt")]
          .concat(["-quiet", "-ign_eof"])
          .concat(extra),
        10_000,
        "hello\n",
      );
    const good = await sClient(["-cert", certs.path("client.crt"), "-key", certs.path("client.key")]);
    assert.match(good.stdout, /mtls-backend/, good.stderr);
    const before = g.gateway.status().counters.tlsRefused;
    const none = await sClient([]);
    assert.doesNotMatch(none.stdout, /mtls-backend/);
    const stranger = await sClient(["-cert", certs.path("stranger.crt"), "-key", certs.path("stranger.key")]);
    assert.doesNotMatch(stranger.stdout, /mtls-backend/);
    await waitFor("two refusals", () => g.gateway.status().counters.tlsRefused >= before + 2);
    const refused = g.accessLines().filter((l) => l.sni === "m.test" && l.code === 403);
    assert.equal(refused.length, 2);
    assert.ok(
      g.lines.some(
        (l) => l.msg === "TLS with the client failed, connection closed" && l.cause === "client_certificate",
      ),
    );
    const metrics = await g.gateway.metrics.text();
    assert.match(metrics, /sluice_tls_handshake_failures_total\{cause="client_certificate"\} 2/);
    assert.match(metrics, /sluice_ssl_certificate_expiry_seconds\{sni="a\.test"\} \d+/);
  });

  test("an active tcp check of a TLS upstream completes a handshake: a node that only speaks plain TCP is marked down", async () => {
    const plain = await httpServer("not tls");
    cleanups.push(plain.close);
    const front = await tlsRedisFront(certs);
    cleanups.push(front.close);
    const checks = upstreamChecks.parse({
      active: { type: "tcp", healthy: { interval: 1 }, unhealthy: { interval: 1 } },
    });
    const checked = service(
      "h",
      upstream([{ port: front.port }, { port: plain.port }], {
        tls: { verify: true, ca: certs.pem("ca.crt"), sni: "r.test" },
        checks,
      }),
      [{ server_port: await freePort() }],
    );
    await g.gateway.apply(withTls(config(10, [...base.services, checked]), { ssls: base.ssls }));
    await waitFor(
      "the plain node marked unhealthy",
      () => g.gateway.report().health.h?.[`127.0.0.1:${plain.port}`] === "unhealthy",
      10_000,
    );
    assert.equal(g.gateway.report().health.h?.[`127.0.0.1:${front.port}`], "healthy");
    await g.gateway.apply(withTls(config(11, base.services), { ssls: base.ssls }));
  });

  test("a certificate replaced while a TLS connection is open: it carries on, a new handshake shows the new one", async () => {
    const echo = await namedEchoServer("swap-backend");
    cleanups.push(echo.close);
    const swapPort = await freePort();
    const route = service("s", upstream([{ port: echo.port }]), [
      { server_port: swapPort, sni: "a.test", tls: "terminate" },
    ]);
    const first = withTls(config(20, [...base.services, route]), { ssls: base.ssls });
    await g.gateway.apply(first);
    const open = await peerName(swapPort, "a.test", certs.pem("ca.crt"));
    assert.equal(open.cn, "a.test");
    assert.equal(await lineFrom(open.socket), "swap-backend");
    const replaced = (base.ssls ?? []).map((s) => (s.id === "a" ? certs.ssl("a2", ["a.test"]) : s));
    await g.gateway.apply(withTls(config(21, [...base.services, route]), { ssls: replaced }));
    const fresh = await peerName(swapPort, "a.test", certs.pem("ca.crt"));
    assert.equal(fresh.cn, "a.test second");
    fresh.socket.destroy();
    open.socket.write("still here\n");
    assert.equal(await lineFrom(open.socket), "still here");
    open.socket.destroy();
  });
});

describe("PROXY protocol: HAProxy in front, nginx behind", () => {
  const cleanups: (() => unknown)[] = [];
  let g: ReturnType<typeof startGateway>;
  let gwPort: number;
  let haV2: number;
  let haV1: number;
  let outPort: number;

  before(async () => {
    requireCommand("haproxy", "scripts/deps/protocols.sh");
    requireCommand("nginx", "scripts/deps/protocols.sh");
    const two = await namedEchoServer("from-127.0.0.2");
    const three = await namedEchoServer("from-127.0.0.3");
    const other = await namedEchoServer("anyone-else");
    cleanups.push(two.close, three.close, other.close);
    gwPort = await freePort();
    haV2 = await freePort();
    haV1 = await freePort();
    outPort = await freePort();
    const nginxPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "sluice-pp-"));
    writeFileSync(
      join(dir, "haproxy.cfg"),
      [
        "global",
        "  maxconn 100",
        "defaults",
        "  mode tcp",
        "  timeout connect 2s",
        "  timeout client 10s",
        "  timeout server 10s",
        `frontend v2\n  bind 127.0.0.1:${haV2}\n  default_backend v2`,
        `backend v2\n  server gw 127.0.0.1:${gwPort} send-proxy-v2`,
        `frontend v1\n  bind 127.0.0.1:${haV1}\n  default_backend v1`,
        `backend v1\n  server gw 127.0.0.1:${gwPort} send-proxy`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "nginx.conf"),
      [
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;",
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log;`,
        "daemon off;",
        "worker_processes 1;",
        "events { worker_connections 64; }",
        "stream {",
        `  server { listen 127.0.0.1:${nginxPort} proxy_protocol; return "$proxy_protocol_addr $remote_addr\\n"; }`,
        "}",
        "",
      ].join("\n"),
    );
    const haproxy = spawnDaemon("haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"]);
    const nginx = spawnDaemon("nginx", ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")]);
    cleanups.push(
      () => killDaemon(haproxy),
      () => killDaemon(nginx),
    );
    await waitForPort(haV2);
    await waitForPort(nginxPort);
    g = startGateway();
    const c = config(1, [
      service("two", upstream([{ port: two.port }]), [
        { server_port: gwPort, remote_addr: "127.0.0.2", proxy_protocol: true },
      ]),
      service("three", upstream([{ port: three.port }]), [
        { server_port: gwPort, remote_addr: "127.0.0.3", proxy_protocol: true },
      ]),
      service("other", upstream([{ port: other.port }]), [{ server_port: gwPort, proxy_protocol: true }], {
        "ip-restriction": { blacklist: ["127.0.0.4"] },
      }),
      service("out", upstream([{ port: nginxPort }], { proxy_protocol: "v2" }), [{ server_port: outPort }]),
    ]);
    const report = await g.gateway.apply({ ...c, real_ip_from: ["127.0.0.1/32"] });
    assert.deepEqual(report.failed, []);
  });

  after(async () => {
    await g?.gateway.stop();
    for (const c of cleanups.reverse()) await c();
  });

  test("send-proxy-v2 and send-proxy: remote_addr routes and ip-restriction act on the real client", async () => {
    for (const front of [haV2, haV1]) {
      assert.equal(await firstLine(front, "127.0.0.2"), "from-127.0.0.2");
      assert.equal(await firstLine(front, "127.0.0.3"), "from-127.0.0.3");
      assert.equal(await firstLine(front, "127.0.0.5"), "anyone-else");
      await assert.rejects(firstLine(front, "127.0.0.4"));
    }
    const line = g.accessLines().find((l) => String(l.client).startsWith("127.0.0.3:"));
    assert.ok(line, "the access log names the real client");
    assert.match(String(line.proxy), /^127\.0\.0\.1:\d+$/);
    assert.ok(g.accessLines().some((l) => String(l.client).startsWith("127.0.0.4:") && l.code === 403));
  });

  test("a PROXY header from outside real_ip_from is refused and counted", async () => {
    const before = g.gateway.status().counters.proxyProtocolRefused;
    const refused = new Promise<string>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: gwPort, localAddress: "127.0.0.2" }, () => {
        s.write("PROXY TCP4 127.0.0.3 127.0.0.1 1234 80\r\n");
      });
      let data = "";
      s.on("data", (d) => {
        data += d;
      });
      s.on("error", () => {});
      s.on("close", () => resolve(data));
    });
    assert.equal(await refused, "");
    await waitFor("the refusal counted", () => g.gateway.status().counters.proxyProtocolRefused === before + 1);
  });

  test("nginx behind Sluice (listen … proxy_protocol) sees the client address from the header Sluice sends", async () => {
    const line = await firstLine(outPort, "127.0.0.2");
    assert.match(line, /^127\.0\.0\.2 127\.0\.0\.1$/);
  });

  test("UDP: a v2 header on each datagram names the client for routing; replies go back to the sender; untrusted senders are dropped", async () => {
    const echo = dgram.createSocket("udp4");
    echo.on("message", (m, from) => echo.send(Buffer.concat([Buffer.from("echo:"), m]), from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", r));
    const udpPort = await freePort("udp");
    const c = config(2, [
      service("udp", upstream([{ port: echo.address().port }], { scheme: "udp" }), [
        { server_port: udpPort, remote_addr: "127.0.0.2", proxy_protocol: true },
      ]),
    ]);
    await g.gateway.apply({ ...c, real_ip_from: ["127.0.0.1/32"] });
    const header = encodeProxyV2(
      { source: { address: "127.0.0.2", port: 5000 }, destination: { address: "127.0.0.1", port: udpPort } },
      "udp",
    );
    const ask = async (bindTo: string): Promise<string | undefined> => {
      const client = dgram.createSocket("udp4");
      await new Promise<void>((r) => client.bind(0, bindTo, r));
      const reply = new Promise<string | undefined>((resolve) => {
        client.once("message", (m) => resolve(String(m)));
        setTimeout(() => resolve(undefined), 1000);
      });
      client.send(Buffer.concat([header, Buffer.from("hi")]), udpPort, "127.0.0.1");
      const got = await reply;
      client.close();
      return got;
    };
    assert.equal(await ask("127.0.0.1"), "echo:hi");
    const before = g.gateway.status().counters.proxyProtocolRefused;
    assert.equal(await ask("127.0.0.2"), undefined);
    assert.equal(g.gateway.status().counters.proxyProtocolRefused, before + 1);
    echo.close();
  });
});
