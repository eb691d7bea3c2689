/**
 * The MQTT CONNECT reader against what a real client sends: `mosquitto_pub` (Debian `mosquitto-clients`,
 * installed by scripts/deps/protocols.sh) connects to a test server with `-V mqttv311`, `-V mqttv5` (with
 * CONNECT and Will properties) and `-V mqttv31`. The server reads the CONNECT with `MqttConnectReader` and
 * refuses the session with a well-formed CONNACK ("not authorised"), which mosquitto_pub reports: so the
 * packet was read exactly to its end and the client saw a real broker answer.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { MqttConnectReader, type MqttConnectResult } from "../../src/proxy/plugins/mqtt-connect.ts";
import { requireCommand } from "../fixtures/processes.ts";
import { type CaptureServer, startCaptureServer } from "./fixtures/capture-server.ts";

let mosquittoPub = "";
let server: CaptureServer;
const results: MqttConnectResult[] = [];

/** CONNACK refusing the session: 3.1/3.1.1 return code 5, MQTT 5 reason code 0x87 with no properties */
const REFUSED_V4 = new Uint8Array([0x20, 0x02, 0x00, 0x05]);
const REFUSED_V5 = new Uint8Array([0x20, 0x03, 0x00, 0x87, 0x00]);

before(async () => {
  mosquittoPub = requireCommand("mosquitto_pub", "scripts/deps/protocols.sh");
  server = await startCaptureServer(() => {
    const reader = new MqttConnectReader();
    return (chunk) => {
      const result = reader.push(chunk);
      if (result.kind === "need-more") return undefined;
      results.push(result);
      if (result.kind === "error") return "";
      return result.connect.protocolLevel === 5 ? REFUSED_V5 : REFUSED_V4;
    };
  });
});

after(() => server?.close());

/** runs mosquitto_pub against the test server; returns the CONNECT the server read and the client's stderr */
async function publish(args: string[]): Promise<{ result: MqttConnectResult; stderr: string }> {
  const before = results.length;
  const stderr = await new Promise<string>((resolve) => {
    execFile(
      mosquittoPub,
      ["-h", "127.0.0.1", "-p", String(server.port), "-t", "sensors/t", "-m", "21.5", ...args],
      { timeout: 10_000 },
      (_error, _stdout, stderr) => resolve(stderr),
    );
  });
  assert.equal(results.length, before + 1, `one CONNECT read (mosquitto_pub said: ${stderr})`);
  return { result: results[before]!, stderr };
}

function done(result: MqttConnectResult) {
  assert.equal(result.kind, "done", result.kind === "error" ? result.reason : "need-more");
  return result as MqttConnectResult & { kind: "done" };
}

test("mosquitto_pub -V mqttv311 with a client id, user name and password", async () => {
  const { result, stderr } = await publish(["-V", "mqttv311", "-i", "sensor-311", "-u", "alice", "-P", "pw1"]);
  assert.deepEqual(done(result).connect, {
    protocolName: "MQTT",
    protocolLevel: 4,
    clientId: "sensor-311",
    username: "alice",
    keepAliveSeconds: 60,
  });
  assert.match(stderr, /not authori[sz]ed/i);
});

test("mosquitto_pub -V mqttv311 with a Will and no user name", async () => {
  const { result } = await publish([
    "-V",
    "mqttv311",
    "-i",
    "with-will",
    "--will-topic",
    "status/with-will",
    "--will-payload",
    "offline",
    "--will-qos",
    "1",
    "--will-retain",
  ]);
  const { connect } = done(result);
  assert.equal(connect.clientId, "with-will");
  assert.equal(connect.username, undefined);
});

test("mosquitto_pub -V mqttv5 with CONNECT properties, a Will with properties, user name and password", async () => {
  const { result, stderr } = await publish([
    "-V",
    "mqttv5",
    "-i",
    "sensor-v5",
    "-u",
    "bob",
    "-P",
    "pw5",
    "-k",
    "30",
    "-D",
    "connect",
    "session-expiry-interval",
    "120",
    "-D",
    "connect",
    "user-property",
    "region",
    "eu-west",
    "-D",
    "connect",
    "receive-maximum",
    "10",
    "--will-topic",
    "status/sensor-v5",
    "--will-payload",
    "gone",
    "-D",
    "will",
    "content-type",
    "text/plain",
    "-D",
    "will",
    "will-delay-interval",
    "5",
  ]);
  assert.deepEqual(done(result).connect, {
    protocolName: "MQTT",
    protocolLevel: 5,
    clientId: "sensor-v5",
    username: "bob",
    keepAliveSeconds: 30,
  });
  assert.match(stderr, /not authori[sz]ed/i);
});

test("a generated client id (-I prefix) and none at all (the broker then assigns one)", async () => {
  const v311 = await publish(["-V", "mqttv311", "-I", "sluice-"]);
  assert.match(done(v311.result).connect.clientId, /^sluice-\d+$/);
  // MQTT 5 lets the broker assign the id (APISIX then balances by client address)
  const v5 = await publish(["-V", "mqttv5"]);
  assert.equal(done(v5.result).connect.clientId, "");
});

test("mosquitto_pub -V mqttv31: MQIsdp level 3", async () => {
  const { result } = await publish(["-V", "mqttv31", "-i", "old-client"]);
  assert.deepEqual(done(result).connect, {
    protocolName: "MQIsdp",
    protocolLevel: 3,
    clientId: "old-client",
    keepAliveSeconds: 60,
  });
});
