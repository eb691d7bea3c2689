/**
 * mqtt-proxy through a real gateway to two real mosquitto brokers (Debian `mosquitto`, started here on
 * free ports with a generated config), driven by `mosquitto_pub` / `mosquitto_sub` (`mosquitto-clients`;
 * both installed by scripts/deps/protocols.sh). The service balances with `chash` on `mqtt_client_id`;
 * one route takes MQTT 3.1.1 (`protocol_level: 4`), one MQTT 5. Which broker a client reached is read
 * from the brokers' own connection log lines.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/proxy/gateway.ts";
import { gatewayConfig, type LogLine, type RouteSpec, startGateway, tcpExchange, tcpUp } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { killDaemon, requireCommand, run, spawnDaemon } from "../fixtures/processes.ts";
import { waitFor } from "../fixtures/wait.ts";

const INSTALLER = "scripts/deps/protocols.sh";
/** the gateway's first-bytes limit in this test: a CONNECT not complete by then is "slow" */
const FIRST_BYTES_MS = 1000;

interface Broker {
  name: string;
  port: number;
  process: ChildProcess & { output: () => string };
  /** the broker's log file (mosquitto buffers its stdout, but flushes its log file line by line) */
  log: string;
}

function logOf(broker: Broker): string {
  return existsSync(broker.log) ? readFileSync(broker.log, "utf8") : "";
}

let dir: string;
let brokers: Broker[] = [];
let gateway: Gateway;
let accessLines: () => LogLine[];
let logLines: LogLine[];
let pub: string;
let sub: string;
let port311: number;
let port5: number;
/** a port that also has an `sni` route: the gateway peeks at the first bytes before mqtt-proxy reads them */
let portPeeked: number;

async function startBroker(name: string, mosquitto: string): Promise<Broker> {
  const port = await freePort();
  const conf = join(dir, `${name}.conf`);
  const log = join(dir, `${name}.log`);
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      // run as the test's user: as root, mosquitto would otherwise switch to `mosquitto`, who cannot write here
      `user ${userInfo().username}`,
      `log_dest file ${log}`,
      "log_type all",
      "connection_messages true",
      "",
    ].join("\n"),
  );
  const process = spawnDaemon(mosquitto, ["-c", conf]);
  await waitFor(`mosquitto ${name} on ${port}`, () => tcpUp(port), 10_000);
  return { name, port, process, log };
}

/** how many times a broker logged a client connecting with this id */
function connectsOf(broker: Broker, clientId: string): number {
  return logOf(broker)
    .split("\n")
    .filter((l) => l.includes(" as ") && l.includes(` as ${clientId} (`)).length;
}

function tcpConnectsOf(broker: Broker): number {
  return logOf(broker)
    .split("\n")
    .filter((l) => l.includes("New connection from")).length;
}

/** the one broker that saw `clientId` (waiting for its log line), failing when none or both did */
async function brokerOf(clientId: string): Promise<Broker> {
  await waitFor(`${clientId} in a broker's log`, () => brokers.some((b) => connectsOf(b, clientId) > 0));
  const seen = brokers.filter((b) => connectsOf(b, clientId) > 0);
  assert.equal(seen.length, 1, `${clientId} reached exactly one broker (reached: ${seen.map((b) => b.name)})`);
  return seen[0]!;
}

function publish(port: number, version: string, clientId: string, topic: string, message: string) {
  return run(pub, ["-h", "127.0.0.1", "-p", String(port), "-V", version, "-i", clientId, "-t", topic, "-m", message]);
}

async function refusedCount(reason: string): Promise<number> {
  const text = await gateway.metrics.text();
  const m = text.match(new RegExp(`^sluice_mqtt_connect_refused_total\\{reason="${reason}"\\} (\\d+)$`, "m"));
  return m ? Number(m[1]) : 0;
}

/** writes `bytes`, then waits (bounded) for the gateway to close the connection */
function sendAndWaitClose(port: number, bytes: number[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.from(bytes)));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("still open after 5 s");
    }, 5000);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve("closed by the gateway");
    });
  });
}

function accessLineOf(route: string, reason: string): LogLine | undefined {
  return accessLines().find((l) => l.route_id === route && l.close_reason === reason);
}

before(async () => {
  const mosquitto = requireCommand("mosquitto", INSTALLER);
  pub = requireCommand("mosquitto_pub", INSTALLER);
  sub = requireCommand("mosquitto_sub", INSTALLER);
  dir = mkdtempSync(join(tmpdir(), "sluice-mqtt-"));
  brokers = [await startBroker("broker-a", mosquitto), await startBroker("broker-b", mosquitto)];
  const started = startGateway({ sniTimeoutMs: FIRST_BYTES_MS });
  gateway = started.gateway;
  accessLines = started.accessLines;
  logLines = started.lines;
  port311 = await freePort();
  port5 = await freePort();
  portPeeked = await freePort();
  const report = await gateway.apply(
    gatewayConfig(1, {
      id: "mqtt",
      upstream: {
        type: "chash",
        hash_on: "vars",
        key: "mqtt_client_id",
        nodes: brokers.map((b) => ({ host: "127.0.0.1", port: b.port, weight: 1 })),
      },
      routes: [
        { id: "v311", server_port: port311, plugins: { "mqtt-proxy": { protocol_name: "MQTT", protocol_level: 4 } } },
        { id: "v5", server_port: port5, plugins: { "mqtt-proxy": { protocol_level: 5 } } },
        { id: "tls-only", server_port: portPeeked, sni: "tls.example" } as RouteSpec,
        { id: "peeked", server_port: portPeeked, plugins: { "mqtt-proxy": { protocol_level: 4 } } },
      ],
    }),
  );
  assert.deepEqual(report.failed, []);
});

after(async () => {
  await gateway?.stop();
  for (const b of brokers) await killDaemon(b.process);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("mqtt-proxy with chash on mqtt_client_id, two mosquitto brokers", () => {
  for (const [version, route] of [
    ["mqttv311", () => port311],
    ["5", () => port5],
  ] as const) {
    test(`-V ${version}: one client id reaches the same broker every time`, async () => {
      const id = `same-${version}`;
      for (let i = 0; i < 5; i++) {
        const result = await publish(route(), version, id, "sluice/same", `m${i}`);
        assert.equal(result.code, 0, result.stderr);
      }
      const broker = await brokerOf(id);
      await waitFor(`five connects of ${id} logged`, () => connectsOf(broker, id) === 5);
      const linesOf = () =>
        accessLines().filter((l) => (l.vars as { mqtt_client_id?: string } | undefined)?.mqtt_client_id === id);
      await waitFor("five access log lines naming the client id", () => linesOf().length === 5);
      const lines = linesOf();
      assert.ok(lines.every((l) => l.node === `127.0.0.1:${broker.port}` && l.code === 200));
    });

    test(`-V ${version}: different client ids spread over both brokers`, async () => {
      const ids = Array.from({ length: 16 }, (_, i) => `spread-${version}-${i}`);
      for (const id of ids) {
        const result = await publish(route(), version, id, "sluice/spread", "x");
        assert.equal(result.code, 0, result.stderr);
      }
      const owners: Broker[] = [];
      for (const id of ids) owners.push(await brokerOf(id));
      const perBroker = brokers.map((b) => owners.filter((owner) => owner === b).length);
      assert.ok(
        perBroker.every((n) => n > 0),
        `both brokers got some ids: ${perBroker}`,
      );
    });

    test(`-V ${version}: publish and subscribe end to end through the proxy`, async () => {
      const topic = `sluice/e2e/${version}`;
      const subId = `sub-${version}`;
      const subscriber = spawnDaemon(sub, [
        ...["-h", "127.0.0.1", "-p", String(route()), "-V", version, "-i", subId],
        ...["-t", topic, "-C", "1", "-W", "20"],
      ]);
      try {
        await waitFor(`${subId} subscribed`, () =>
          brokers.some((b) => logOf(b).includes(`Received SUBSCRIBE from ${subId}`)),
        );
        const target = await brokerOf(subId);
        // The brokers are not bridged: publish with client ids until one lands on the subscriber's broker.
        let delivered = false;
        for (let i = 0; i < 16 && !delivered; i++) {
          const pubId = `pub-${version}-${i}`;
          const result = await publish(route(), version, pubId, topic, `hello ${version}`);
          assert.equal(result.code, 0, result.stderr);
          delivered = (await brokerOf(pubId)) === target;
        }
        assert.ok(delivered, "some publisher id reached the subscriber's broker");
        await waitFor("the subscriber got the message and exited", () => subscriber.exitCode !== null, 10_000);
        assert.equal(subscriber.exitCode, 0, subscriber.output());
        assert.equal(subscriber.output().trim(), `hello ${version}`);
      } finally {
        await killDaemon(subscriber);
      }
    });
  }

  test("on a port that peeks for SNI first, the CONNECT already read is parsed and still reaches the broker", async () => {
    const id = "peeked-client";
    for (let i = 0; i < 3; i++) {
      const result = await publish(portPeeked, "mqttv311", id, "sluice/peeked", `p${i}`);
      assert.equal(result.code, 0, result.stderr);
    }
    const broker = await brokerOf(id);
    await waitFor("three connects logged", () => connectsOf(broker, id) === 3);
    assert.ok(accessLines().some((l) => l.route_id === "peeked" && l.code === 200));
  });

  test("one client id reaches the same broker over 3.1.1 and over 5 (two routes, one upstream)", async () => {
    const id = "both-versions";
    assert.equal((await publish(port311, "mqttv311", id, "sluice/both", "a")).code, 0);
    assert.equal((await publish(port5, "5", id, "sluice/both", "b")).code, 0);
    const broker = await brokerOf(id);
    await waitFor("both connects logged on one broker", () => connectsOf(broker, id) === 2);
  });

  test("a client of another protocol level is refused with 503 and counted", async () => {
    const before = await refusedCount("protocol");
    const result = await publish(port5, "mqttv311", "wrong-level", "sluice/x", "x");
    assert.notEqual(result.code, 0, "mosquitto_pub fails");
    assert.equal(connectsOf(brokers[0]!, "wrong-level") + connectsOf(brokers[1]!, "wrong-level"), 0);
    assert.equal(await refusedCount("protocol"), before + 1);
    const line = accessLineOf("v5", "mqtt_protocol");
    assert.ok(line, "access log names the reason");
    assert.equal(line.code, 503);
  });

  test("a malformed CONNECT is closed before any broker sees it, and counted", async () => {
    const before = await refusedCount("malformed");
    const tcpBefore = brokers.map(tcpConnectsOf);
    // a PUBLISH packet where the CONNECT must come first
    const exchange = await tcpExchange(port311, { send: "\x30\x05\x00\x01tab", timeoutMs: 5000 });
    assert.notEqual(exchange.error, "client timeout", "the gateway closed it (a reset: its bytes were left unread)");
    assert.equal(exchange.data, "");
    assert.equal(await refusedCount("malformed"), before + 1);
    await waitFor("access log line", () => accessLineOf("v311", "mqtt_malformed") !== undefined);
    assert.equal(accessLineOf("v311", "mqtt_malformed")!.code, 503);
    assert.deepEqual(brokers.map(tcpConnectsOf), tcpBefore, "no broker got a connection");
  });

  test("a CONNECT declaring more than 16 KiB is refused as soon as its length is read", async () => {
    const before = await refusedCount("malformed");
    // Remaining Length 0xff 0xff 0x7f = 2 MiB: refused from the fixed header alone, nothing allocated for it
    assert.equal(await sendAndWaitClose(port311, [0x10, 0xff, 0xff, 0x7f]), "closed by the gateway");
    assert.equal(await refusedCount("malformed"), before + 1);
    assert.ok(
      logLines.some((l) => /CONNECT packet of 2097155 bytes exceeds the limit of 16384/.test(String(l.reason))),
    );
  });

  test("a CONNECT that does not complete within the first-bytes limit is closed and counted", async () => {
    const before = await refusedCount("timeout");
    const tcpBefore = brokers.map(tcpConnectsOf);
    const socket = net.connect(port311, "127.0.0.1");
    let closed = false;
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => {});
    // the first 9 bytes of a 3.1.1 CONNECT, then nothing
    socket.write(Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04]));
    await waitFor("the gateway closed the slow client", () => closed, 10 * FIRST_BYTES_MS);
    assert.equal(await refusedCount("timeout"), before + 1);
    await waitFor("access log line", () => accessLineOf("v311", "mqtt_timeout") !== undefined);
    assert.equal(accessLineOf("v311", "mqtt_timeout")!.code, 503);
    assert.deepEqual(brokers.map(tcpConnectsOf), tcpBefore, "no broker got a connection");
  });
});
