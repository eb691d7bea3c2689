/**
 * The same gateway on every runtime and adapter: `sluice gateway --config FILE` started under node, bun
 * (native and node-compat) and deno (native and node-compat), from this one test code. Each must proxy a
 * MariaDB session, a 4 MiB Redis value both ways (backpressure through the pipeline), UDP datagrams and
 * DNS queries to a real dnsmasq; run the plugins (ip-restriction, limit-conn, prometheus, syslog, and
 * mqtt-proxy, which reads the client's first bytes through the adapter) alike; and say which runtime and
 * adapter run in its startup log and /readyz.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "../fixtures/ports.ts";
import { Dnsmasq } from "../fixtures/servers.ts";
import { waitFor } from "../fixtures/wait.ts";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const denoRun = [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only", "runtime/deno/main.ts"];

const runtimes: { adapter: string; runtime: string; command: string[]; flag: string }[] = [
  {
    adapter: "node",
    runtime: "node",
    command: [process.execPath, "--import", "tsx", "runtime/node/main.ts"],
    flag: "native",
  },
  { adapter: "bun-native", runtime: "bun", command: [bun, "runtime/bun/main.ts"], flag: "native" },
  { adapter: "bun-node-compat", runtime: "bun", command: [bun, "runtime/bun/main.ts"], flag: "node-compat" },
  { adapter: "deno-native", runtime: "deno", command: denoRun, flag: "native" },
  { adapter: "deno-node-compat", runtime: "deno", command: denoRun, flag: "node-compat" },
];

let dir = "";
const children: ChildProcess[] = [];
const udpEcho = createSocket("udp4");
let udpEchoPort = 0;
/** what the syslog plugin sends, as a syslog server over UDP receives it */
const syslogServer = createSocket("udp4");
const syslogLines: string[] = [];
let dnsmasq: Dnsmasq | undefined;
/** stands in for an MQTT broker: keeps what it receives and answers CONNACK (accepted) to the first bytes */
const broker: { server: Server; port: number; received: Buffer[] } = {
  server: createServer((socket) => {
    const chunks: Buffer[] = [];
    broker.received.push(Buffer.alloc(0));
    const index = broker.received.length - 1;
    socket.on("data", (data) => {
      if (chunks.length === 0) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      chunks.push(data);
      broker.received[index] = Buffer.concat(chunks);
    });
    socket.on("error", () => {});
  }),
  port: 0,
  received: [],
};
/** an MQTT 3.1.1 CONNECT, client id `sluice1`, keep-alive 60 s */
const CONNECT = Buffer.from("\x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07sluice1", "latin1");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-runtimes-"));
  udpEcho.on("message", (message, from) =>
    udpEcho.send(Buffer.concat([Buffer.from("echo:"), message]), from.port, from.address),
  );
  await new Promise<void>((ready) => udpEcho.bind(0, "127.0.0.1", ready));
  udpEchoPort = udpEcho.address().port;
  syslogServer.on("message", (message) => syslogLines.push(message.toString()));
  await new Promise<void>((ready) => syslogServer.bind(0, "127.0.0.1", ready));
  await new Promise<void>((ready) => broker.server.listen(0, "127.0.0.1", ready));
  broker.port = (broker.server.address() as { port: number }).port;
  dnsmasq = new Dnsmasq(await freePort("udp"));
  await dnsmasq.start();
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  udpEcho.close();
  syslogServer.close();
  broker.server.close();
  await dnsmasq?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface GatewayPorts {
  /** a UDP route to a node that is down, health-checked over UDP, logging to a syslog collector that is down */
  udpDown: number;
  /** nothing listens on this UDP port */
  closedUdp: number;
  mariadb: number;
  redis: number;
  udp: number;
  dns: number;
  officeOnly: number;
  oneAtATime: number;
  mqtt: number;
}

function gatewayFile(ports: GatewayPorts): string {
  return `
services:
  - name: mariadb
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }] }
    plugins:
      syslog: { host: 127.0.0.1, port: ${syslogServer.address().port}, sock_type: udp, batch_max_size: 1 }
    stream_routes:
      - { name: mariadb, server_port: ${ports.mariadb} }
  - name: redis
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 6379, weight: 1 }] }
    plugins:
      prometheus: { prefer_name: true }
    stream_routes:
      - { name: redis, server_port: ${ports.redis} }
      - name: redis-office-only
        server_port: ${ports.officeOnly}
        plugins: { ip-restriction: { whitelist: ["127.0.0.2"] } }
      - name: redis-one-at-a-time
        server_port: ${ports.oneAtATime}
        plugins: { limit-conn: { conn: 1, burst: 0, default_conn_delay: 0.1, key: remote_addr } }
  - name: mqtt
    upstream: { scheme: tcp, type: chash, key: mqtt_client_id, nodes: [{ host: 127.0.0.1, port: ${broker.port}, weight: 1 }] }
    stream_routes:
      - name: mqtt
        server_port: ${ports.mqtt}
        plugins: { mqtt-proxy: { protocol_level: 4 } }
  - name: udp-echo
    upstream: { scheme: udp, nodes: [{ host: 127.0.0.1, port: ${udpEchoPort}, weight: 1 }] }
    stream_routes:
      - { name: udp-echo, server_port: ${ports.udp} }
  - name: dns
    upstream: { scheme: udp, nodes: [{ host: 127.0.0.1, port: ${dnsmasq!.port}, weight: 1 }] }
    stream_routes:
      - { name: dns, server_port: ${ports.dns} }
  - name: udp-down
    upstream:
      scheme: udp
      nodes: [{ host: 127.0.0.1, port: ${ports.closedUdp}, weight: 1 }]
      checks:
        active:
          type: udp
          timeout: 0.2
          udp: { send: ping }
          healthy: { interval: 1, successes: 1 }
          unhealthy: { interval: 1, timeouts: 1 }
    plugins:
      syslog: { host: 127.0.0.1, port: ${ports.closedUdp}, sock_type: udp, batch_max_size: 1 }
    stream_routes:
      - { name: udp-down, server_port: ${ports.udpDown} }
`;
}

/** Opens a connection from `localAddress`, sends a Redis PING, and gives the first reply line, or "closed". */
function redisPing(port: number, localAddress = "127.0.0.1", keepOpen?: (close: () => void) => void): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    let got = "";
    const finish = (answer: string) => {
      clearTimeout(timer);
      done(answer);
      if (keepOpen && answer === "+PONG") keepOpen(() => socket.destroy());
      else socket.destroy();
    };
    const timer = setTimeout(() => finish(got || "timeout"), 5_000);
    socket.on("data", (data) => {
      got += data;
      if (got.includes("\r\n")) finish(got.trim());
    });
    socket.on("error", () => finish(got.trim() || "closed"));
    socket.on("close", () => finish(got.trim() || "closed"));
    socket.write("PING\r\n");
  });
}

/** Sends `parts` with a pause between them; resolves with what came back before the close (or 3 s). */
function exchange(port: number, parts: Buffer[]): Promise<Buffer> {
  return new Promise((done) => {
    const socket = connect({ port, host: "127.0.0.1" });
    const got: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      done(Buffer.concat(got));
    };
    const timer = setTimeout(finish, 3_000);
    socket.on("data", (data) => {
      got.push(data);
      if (Buffer.concat(got).length >= 4) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
    socket.once("connect", async () => {
      for (const part of parts) {
        socket.write(part);
        await new Promise((wake) => setTimeout(wake, 50));
      }
    });
  });
}

async function dig(port: number, name: string): Promise<string> {
  const { stdout } = await run("dig", ["@127.0.0.1", "-p", String(port), name, "+short", "+time=2", "+tries=3"], {
    timeout: 20_000,
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new Error("dig is missing: run scripts/deps/proxy.sh");
    throw error;
  });
  return stdout.trim();
}

/** Starts the gateway and resolves with its status address once it logged it. */
function startGateway(command: string[], args: string[]) {
  const [program, ...rest] = command;
  const child = spawn(program!, [...rest, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  return new Promise<{ child: ChildProcess; status: string; log: () => string }>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`no status address in 60 s:\n${output}`)), 60_000);
    const poll = setInterval(() => {
      const status = /"addr":"([^"]+)","msg":"status api listening"/.exec(output)?.[1];
      if (status) {
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart({ child, status, log: () => output });
      }
    }, 20);
    child.once("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
}

async function readyz(status: string): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`http://${status}/readyz`).catch(() => undefined);
    if (response?.status === 200) return response.json();
    if (Date.now() > deadline) throw new Error(`/readyz not 200 within 30 s (last ${response?.status})`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

async function mariadbThrough(port: number): Promise<string> {
  const { stdout } = await run(
    "mariadb",
    ["-h127.0.0.1", `-P${port}`, "-uroot", "--connect-timeout=5", "-N", "-e", "select 6*7"],
    { timeout: 20_000 },
  ).catch((error: NodeJS.ErrnoException & { stderr?: string }) => {
    if (error.code === "ENOENT") throw new Error("the mariadb client is missing: run scripts/deps/runtimes.sh");
    throw new Error(`mariadb through port ${port}: ${error.stderr ?? error.message}`);
  });
  return stdout.trim();
}

async function sendDatagram(port: number, text: string): Promise<void> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((sent, failed) =>
      socket.send(text, port, "127.0.0.1", (error) => (error ? failed(error) : sent())),
    );
  } finally {
    socket.close();
  }
}

async function udpRoundTrip(port: number): Promise<string> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((ready) => socket.bind(0, "127.0.0.1", ready));
    const reply = new Promise<string>((got) => socket.once("message", (message) => got(message.toString())));
    for (let attempt = 0; attempt < 10; attempt++) {
      socket.send("ping", port, "127.0.0.1");
      const answer = await Promise.race([
        reply,
        new Promise<undefined>((wake) => setTimeout(() => wake(undefined), 300)),
      ]);
      if (answer !== undefined) return answer;
    }
    throw new Error(`no UDP reply through port ${port}`);
  } finally {
    socket.close();
  }
}

for (const target of runtimes) {
  test(`gateway on ${target.adapter}: MariaDB, Redis bulk, UDP, DNS, the plugins, runtime shown`, async () => {
    const ports: GatewayPorts = {
      udpDown: await freePort("udp"),
      closedUdp: await freePort("udp"),
      mariadb: await freePort(),
      redis: await freePort(),
      udp: await freePort(),
      dns: await freePort("udp"),
      officeOnly: await freePort(),
      oneAtATime: await freePort(),
      mqtt: await freePort(),
    };
    syslogLines.length = 0;
    const file = join(dir, `${target.adapter}.yaml`);
    await writeFile(file, gatewayFile(ports));
    const { child, status, log } = await startGateway(target.command, [
      "gateway",
      "--config",
      file,
      "--status-addr",
      "127.0.0.1:0",
      "--listen-addr",
      "127.0.0.1",
      "--runtime-adapter",
      target.flag,
      "--drain-timeout",
      "1",
    ]);
    try {
      const ready = JSON.stringify(await readyz(status));
      assert.match(ready, new RegExp(`"${target.adapter}"`), `/readyz names the adapter: ${ready}`);
      // the startup line is written before /readyz says ready, but its pipe may be read after the answer
      const runtimeShown = new RegExp(`${target.runtime} \\d+\\.\\d+`);
      await waitFor(`the startup log naming the runtime, in:\n${log()}`, () => runtimeShown.test(log()));

      assert.equal(await mariadbThrough(ports.mariadb), "42");

      const redis = new Redis({ host: "127.0.0.1", port: ports.redis, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const value = Buffer.alloc(4 * 1024 * 1024);
        for (let i = 0; i < value.length; i++) value[i] = (i * 7) % 256;
        const key = `sluice-runtime-test-${target.adapter}-${process.pid}`;
        await redis.set(key, value, "EX", 60);
        const back = await redis.getBuffer(key);
        await redis.del(key);
        assert.ok(back !== null && Buffer.compare(back, value) === 0, "4 MiB value came back intact");
      } finally {
        redis.disconnect();
      }

      // A UDP node that is down (its port answers ICMP port unreachable), its active UDP check and a syslog
      // collector that is down cost that route's datagrams, never the process: every other route still works.
      for (let i = 0; i < 5; i++) await sendDatagram(ports.udpDown, `to a dead node ${i}`);
      await new Promise((wake) => setTimeout(wake, 1500));
      assert.equal(child.exitCode, null, `the gateway exited after datagrams to a dead node:\n${log()}`);
      assert.equal((await fetch(`http://${status}/readyz`)).status, 200, "/readyz after datagrams to a dead node");

      assert.equal(await udpRoundTrip(ports.udp), "echo:ping");
      assert.equal(await dig(ports.dns, "probe.test"), "127.0.0.9", "dnsmasq answers through the udp route");

      // ip-restriction: only 127.0.0.2 may use this route; others are closed before reaching Redis
      assert.equal(await redisPing(ports.officeOnly, "127.0.0.1"), "closed");
      assert.equal(await redisPing(ports.officeOnly, "127.0.0.2"), "+PONG");

      // limit-conn: one connection per client address; a second is closed, and the count comes back
      let closeFirst: () => void = () => {};
      assert.equal(
        await redisPing(ports.oneAtATime, "127.0.0.1", (close) => {
          closeFirst = close;
        }),
        "+PONG",
      );
      assert.equal(await redisPing(ports.oneAtATime), "closed", "a second concurrent connection is refused");
      assert.equal(await redisPing(ports.oneAtATime, "127.0.0.3"), "+PONG", "the limit is per client address");
      closeFirst();
      await waitFor(
        "the first connection's count released",
        async () => (await redisPing(ports.oneAtATime)) === "+PONG",
      );

      // mqtt-proxy: a CONNECT split in two writes is read whole, reaches the broker unchanged, and its
      // CONNACK comes back; a packet that is not a CONNECT is closed before the broker sees anything
      const connections = broker.received.length;
      const connack = await exchange(ports.mqtt, [CONNECT.subarray(0, 7), CONNECT.subarray(7)]);
      assert.deepEqual([...connack], [0x20, 0x02, 0x00, 0x00], "CONNACK through the gateway");
      assert.equal(broker.received.length, connections + 1);
      await waitFor("the whole CONNECT at the broker", () => broker.received.at(-1)!.equals(CONNECT));
      assert.equal((await exchange(ports.mqtt, [Buffer.from([0x30, 0x02, 0x00, 0x00])])).length, 0);
      assert.equal(broker.received.length, connections + 1, "the malformed one never reached the broker");

      // prometheus: the redis routes are counted by name
      const metrics = await (await fetch(`http://${status}/metrics`)).text();
      assert.match(metrics, /^sluice_stream_connection_total\{route="redis"\} [1-9]/m);
      assert.match(metrics, /^sluice_stream_status_total\{[^}]*code="403"/m);
      assert.match(metrics, /^sluice_stream_status_total\{[^}]*code="503"/m);
      assert.match(metrics, /^sluice_mqtt_connect_refused_total\{reason="malformed"\} 1$/m);

      // syslog: the MariaDB session above was sent as an RFC 5424 line
      await waitFor("a syslog line for the mariadb route", () =>
        syslogLines.some((l) => l.includes('"route_name":"mariadb"')),
      );
      assert.match(syslogLines.find((l) => l.includes('"route_name":"mariadb"'))!, /^<46>1 \S+ \S+ sluice /);

      // Shutdown: what is logged on the way out (the access line of a connection the stop cuts) reaches
      // the log whole before the process exits.
      let closeHeld: () => void = () => {};
      assert.equal(
        await redisPing(ports.redis, "127.0.0.1", (close) => {
          closeHeld = close;
        }),
        "+PONG",
      );
      const exited = new Promise<void>((done) => child.once("exit", () => done()));
      child.kill("SIGTERM");
      await exited;
      closeHeld();
      const lines = log()
        .split("\n")
        .filter((line) => line.startsWith("{"));
      for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `a log line cut short: ${line}`);
      const stopping = lines.findIndex((line) => line.includes('"gateway stopping"'));
      assert.ok(stopping >= 0, `no "gateway stopping" line:\n${log()}`);
      assert.ok(
        lines.slice(stopping).some((line) => line.includes('"stream session closed"')),
        `the access line of the connection cut at shutdown is missing:\n${log()}`,
      );
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise<void>((exited) => child.once("exit", () => exited()));
    }
  });
}
