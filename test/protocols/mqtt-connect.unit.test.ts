/**
 * The MQTT CONNECT reader of the mqtt-proxy plugin. The first group ports the packets of APISIX's own
 * mqtt-proxy tests (apache/apisix `t/stream-plugin/mqtt-proxy.t` TEST 2, 3, 5; `t/stream-plugin/mqtt-proxy2.t`
 * TEST 5, 6, 7; `t/stream-plugin/mqtt.t` TEST 2, 3), with what APISIX reads from them. The rest follow the
 * MQTT 3.1.1 (§3.1) and 5.0 (§3.1) CONNECT layout: properties, Will, user name and password, Remaining
 * Length forms, and the malformed packets a reader must refuse. Every packet is also fed byte by byte.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MQTT_CONNECT_DEFAULT_MAX_BYTES,
  MqttConnectReader,
  type MqttConnectResult,
  readMqttConnect,
} from "../../src/proxy/plugins/mqtt-connect.ts";

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

/** reads `packet` whole, byte by byte and in chunks of 5; all three must agree */
function read(packet: Uint8Array): MqttConnectResult {
  const results = [packet.byteLength, 1, 5].map((size) => {
    const reader = new MqttConnectReader();
    let result: MqttConnectResult = { kind: "need-more" };
    for (let i = 0; i < packet.byteLength && result.kind === "need-more"; i += size) {
      result = reader.push(packet.subarray(i, i + size));
    }
    return result;
  });
  assert.deepEqual(results[1], results[0], "byte by byte");
  assert.deepEqual(results[2], results[0], "chunks of 5");
  return results[0]!;
}

function done(result: MqttConnectResult) {
  assert.equal(result.kind, "done", result.kind === "error" ? result.reason : "need-more");
  return result as MqttConnectResult & { kind: "done" };
}

function error(result: MqttConnectResult, pattern: RegExp) {
  assert.equal(result.kind, "error", `expected an error, got ${JSON.stringify(result)}`);
  assert.match((result as { reason: string }).reason, pattern);
}

// ---- building packets (MQTT encodings: two-byte big-endian lengths, variable byte integers) ----
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const str = (s: string | Buffer) => {
  const b = typeof s === "string" ? Buffer.from(s) : s;
  return Buffer.concat([u16(b.length), b]);
};
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}
const props = (...items: Buffer[]) => {
  const body = Buffer.concat(items);
  return Buffer.concat([varint(body.length), body]);
};

interface Connect {
  level?: number;
  name?: string;
  flags?: number;
  keepAlive?: number;
  properties?: Buffer;
  payload: Buffer[];
}
function connect({ level = 4, name = "MQTT", flags = 0x02, keepAlive = 60, properties, payload }: Connect) {
  const body = Buffer.concat([str(name), Buffer.from([level, flags]), u16(keepAlive), properties ?? Buffer.alloc(0)]);
  const rest = Buffer.concat([body, ...payload]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x10]), varint(rest.length), rest]));
}

describe("APISIX's mqtt-proxy test packets", () => {
  test('mqtt-proxy.t TEST 3 (also TEST 8, 10 and mqtt.t TEST 3): MQTT 3.1.1, client id "foo"', () => {
    const result = done(read(bytes("\x10\x0f\x00\x04\x4d\x51\x54\x54\x04\x02\x00\x3c\x00\x03\x66\x6f\x6f")));
    assert.deepEqual(result.connect, { protocolName: "MQTT", protocolLevel: 4, clientId: "foo", keepAliveSeconds: 60 });
    assert.equal(result.consumed, 17);
  });

  test("mqtt-proxy.t TEST 2 and mqtt.t TEST 2: `mmm` is not a CONNECT", () => {
    error(read(bytes("mmm")), /not an MQTT CONNECT packet: first byte 0x6d \(CONNECT is 0x10\)/);
  });

  test("mqtt-proxy.t TEST 5: the fixed header alone (`\\x10\\x0f`) waits for the rest", () => {
    assert.deepEqual(new MqttConnectReader().push(bytes("\x10\x0f")), { kind: "need-more" });
    error(readMqttConnect(bytes("\x10\x0f")), /truncated CONNECT packet: 2 bytes/);
  });

  test("mqtt-proxy2.t TEST 5: MQTT 5.0 with an empty client id (APISIX then balances by client address)", () => {
    const result = done(read(bytes("\x10\x0d\x00\x04\x4d\x51\x54\x54\x05\x02\x00\x3c\x00\x00\x00")));
    assert.deepEqual(result.connect, { protocolName: "MQTT", protocolLevel: 5, clientId: "", keepAliveSeconds: 60 });
  });

  test('mqtt-proxy2.t TEST 6 and 7: MQTT 5.0, client ids "f" and "g"', () => {
    const f = done(read(bytes("\x10\x0e\x00\x04\x4d\x51\x54\x54\x05\x02\x00\x3c\x00\x00\x01\x66")));
    const g = done(read(bytes("\x10\x0e\x00\x04\x4d\x51\x54\x54\x05\x02\x00\x3c\x00\x00\x01\x67")));
    assert.equal(f.connect.clientId, "f");
    assert.equal(g.connect.clientId, "g");
  });
});

describe("MQTT 3.1.1 and 5.0 CONNECT fields", () => {
  test("user name and password (3.1.1): the user name is read, the password is not returned", () => {
    const packet = connect({ flags: 0xc2, payload: [str("client-1"), str("alice"), str("s3cret")] });
    const result = done(read(packet));
    assert.deepEqual(result.connect, {
      protocolName: "MQTT",
      protocolLevel: 4,
      clientId: "client-1",
      username: "alice",
      keepAliveSeconds: 60,
    });
    assert.ok(!JSON.stringify(result).includes("s3cret"));
  });

  test("a Will (3.1.1): its topic and payload are skipped to reach the user name", () => {
    // will flag, will QoS 1, will retain, user name
    const packet = connect({
      flags: 0x80 | 0x20 | 0x08 | 0x04 | 0x02,
      payload: [str("c"), str("last/will"), str(Buffer.alloc(300, 7)), str("bob")],
    });
    const result = done(read(packet));
    assert.equal(result.connect.clientId, "c");
    assert.equal(result.connect.username, "bob");
  });

  test("MQTT 5.0: CONNECT properties of every type are skipped (varint length, user properties, auth)", () => {
    const properties = props(
      Buffer.from([0x11, 0, 0, 0x0e, 0x10]), // session expiry interval (four-byte)
      Buffer.from([0x21, 0x00, 0x0a]), // receive maximum (two-byte)
      Buffer.from([0x17, 0x01]), // request problem information (byte)
      Buffer.from([0x27, 0, 1, 0, 0]), // maximum packet size
      Buffer.concat([Buffer.from([0x26]), str("region"), str("eu-west")]), // user property (string pair)
      Buffer.concat([Buffer.from([0x26]), str("k".repeat(150)), str("v")]), // makes the length a 2-byte varint
      Buffer.concat([Buffer.from([0x15]), str("SCRAM-SHA-1")]), // authentication method (string)
      Buffer.concat([Buffer.from([0x16]), str(Buffer.from([0, 1, 2]))]), // authentication data (binary)
    );
    assert.ok(properties[0]! & 0x80, "property length takes two bytes");
    const result = done(read(connect({ level: 5, flags: 0x82, properties, payload: [str("dev-42"), str("carol")] })));
    assert.deepEqual(result.connect, {
      protocolName: "MQTT",
      protocolLevel: 5,
      clientId: "dev-42",
      username: "carol",
      keepAliveSeconds: 60,
    });
  });

  test("MQTT 5.0: Will properties are skipped too; a password without a user name is allowed", () => {
    const willProperties = props(
      Buffer.from([0x18, 0, 0, 0, 5]), // will delay interval
      Buffer.from([0x01, 1]), // payload format indicator
      Buffer.concat([Buffer.from([0x03]), str("text/plain")]), // content type
      Buffer.concat([Buffer.from([0x09]), str(Buffer.from("corr"))]), // correlation data
    );
    const packet = connect({
      level: 5,
      flags: 0x40 | 0x04 | 0x02,
      properties: props(),
      payload: [str("w"), willProperties, str("t"), str("bye"), str("pw")],
    });
    const result = done(read(packet));
    assert.equal(result.connect.clientId, "w");
    assert.equal(result.connect.username, undefined);
  });

  test("MQTT 3.1 (MQIsdp, level 3) is read; keep alive is reported", () => {
    const result = done(read(connect({ name: "MQIsdp", level: 3, keepAlive: 5, payload: [str("legacy")] })));
    assert.deepEqual(result.connect, {
      protocolName: "MQIsdp",
      protocolLevel: 3,
      clientId: "legacy",
      keepAliveSeconds: 5,
    });
  });

  test("a UTF-8 client id; a multi-byte Remaining Length", () => {
    const id = "capteur-ü-".repeat(20);
    const packet = connect({ payload: [str(id)] });
    assert.ok(packet[1]! & 0x80, "Remaining Length takes two bytes");
    assert.equal(done(read(packet)).connect.clientId, id);
  });

  test("a leading U+FEFF in a client id is kept, not stripped as a BOM (MQTT 3.1.1 §1.5.3, 5.0 §1.5.4)", () => {
    const packet = connect({ payload: [str(Buffer.from("\uFEFFsensor", "utf8"))] });
    assert.equal(done(read(packet)).connect.clientId, "\uFEFFsensor");
  });

  test("`consumed` ends at the CONNECT: bytes after it in the same chunk are not part of it", () => {
    const packet = connect({ payload: [str("x")] });
    const publish = Buffer.from([0x30, 0x03, 0x00, 0x01, 0x74]);
    const result = done(new MqttConnectReader().push(Buffer.concat([packet, publish])));
    assert.equal(result.consumed, packet.byteLength);
  });
});

describe("malformed CONNECT packets", () => {
  test("another packet type, or CONNECT with flags set", () => {
    error(read(bytes("\x30\x00")), /first byte 0x30/); // PUBLISH
    error(read(bytes("\x11\x00")), /first byte 0x11/); // reserved flags must be 0
    error(read(bytes("\x16\x03\x01")), /first byte 0x16/); // a TLS ClientHello
  });

  test("a Remaining Length of more than four bytes", () => {
    error(read(bytes("\x10\xff\xff\xff\xff\x01")), /Remaining Length: more than 4 bytes/);
  });

  test("over the size limit: refused from the fixed header, before the body is buffered; the limit is configurable", () => {
    assert.equal(MQTT_CONNECT_DEFAULT_MAX_BYTES, 16384);
    error(
      new MqttConnectReader().push(bytes("\x10\xff\xff\x7f")),
      /CONNECT packet of 2097155 bytes exceeds the limit of 16384/,
    );
    const big = connect({ payload: [str("i".repeat(20000))] });
    error(read(big), /exceeds the limit of 16384/);
    assert.equal(done(new MqttConnectReader({ maxPacketBytes: 32768 }).push(big)).connect.clientId.length, 20000);
    const exact = connect({ payload: [str("abc")] });
    assert.equal(done(new MqttConnectReader({ maxPacketBytes: exact.byteLength }).push(exact)).consumed, 17);
    error(
      new MqttConnectReader({ maxPacketBytes: exact.byteLength - 1 }).push(exact),
      /of 17 bytes exceeds the limit of 16/,
    );
  });

  test("wrong protocol name or level", () => {
    error(read(connect({ name: "MQTX", payload: [str("a")] })), /unsupported protocol "MQTX" level 4/);
    error(read(connect({ level: 3, payload: [str("a")] })), /unsupported protocol "MQTT" level 3/);
    error(read(connect({ level: 6, payload: [str("a")] })), /level 6/);
    error(read(connect({ name: "MQIsdp", level: 4, payload: [str("a")] })), /"MQIsdp" level 4/);
  });

  test("connect flags the spec forbids", () => {
    error(read(connect({ flags: 0x03, payload: [str("a")] })), /reserved bit 0/);
    error(read(connect({ flags: 0x04 | 0x18, payload: [str("a"), str("t"), str("p")] })), /Will QoS 3/);
    error(read(connect({ flags: 0x08, payload: [str("a")] })), /without the Will flag/);
    error(read(connect({ flags: 0x20, payload: [str("a")] })), /without the Will flag/);
    error(
      read(connect({ flags: 0x40, payload: [str("a"), str("pw")] })),
      /Password flag set without the User Name flag/,
    );
  });

  test("fields that run past the packet, and bytes left over after the last field", () => {
    error(read(bytes("\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x03fo")), /client id runs past the packet's end/);
    error(read(connect({ flags: 0x82, payload: [str("a")] })), /user name runs past/);
    error(read(connect({ payload: [str("a"), Buffer.from("zz")] })), /2 bytes after the CONNECT payload's last field/);
    error(read(bytes("\x10\x00")), /protocol name runs past/);
  });

  test("MQTT 5.0 properties: an unknown id, a property overrunning the list, a list overrunning the packet", () => {
    error(
      read(connect({ level: 5, properties: props(Buffer.from([0x7f, 0])), payload: [str("a")] })),
      /unknown property 0x7f/,
    );
    // receive maximum needs two bytes; the list announces one
    const short = Buffer.concat([varint(2), Buffer.from([0x21, 0x00]), Buffer.from([0x0a])]);
    error(
      read(connect({ level: 5, properties: short, payload: [str("a")] })),
      /CONNECT properties: property 0x21 runs past/,
    );
    error(
      read(connect({ level: 5, properties: varint(200), payload: [str("a")] })),
      /CONNECT properties runs past the packet's end/,
    );
  });

  test("client id and user name must be well-formed UTF-8 without U+0000", () => {
    error(read(connect({ payload: [str(Buffer.from([0xc3, 0x28]))] })), /client id is not well-formed UTF-8/);
    error(read(connect({ flags: 0x82, payload: [str("a"), str("a\u0000b")] })), /user name contains U\+0000/);
  });

  test("after an answer the reader gives the same answer again", () => {
    const reader = new MqttConnectReader();
    error(reader.push(bytes("m")), /first byte/);
    error(reader.push(connect({ payload: [str("a")] })), /first byte/);
  });
});
