/**
 * Reads the MQTT CONNECT packet a client sends first (MQTT 3.1, 3.1.1 and 5.0), for the mqtt-proxy
 * plugin: its protocol level, client id and user name. The bytes are only looked at (the caller forwards
 * them to the broker unchanged). `MqttConnectReader` takes the connection's chunks as they come, copies at
 * most the packet's own bytes into one buffer sized once from its Remaining Length (bounded by
 * `maxPacketBytes`), and parses the packet once when it is complete, so the work per byte is constant.
 */
import { complete, type FirstBytesResult, refuse as fail, hexByte as hex, NEED_MORE } from "../first-bytes.ts";

/** the default limit for a CONNECT packet, fixed header included */
export const MQTT_CONNECT_DEFAULT_MAX_BYTES = 16 * 1024;
/** the fixed header: one type byte and a Remaining Length of at most four bytes */
const FIXED_HEADER_MAX_BYTES = 5;
const CONNECT = 0x10;

export interface MqttConnect {
  /** "MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1 */
  protocolName: "MQTT" | "MQIsdp";
  /** 3 (MQTT 3.1), 4 (3.1.1), 5 (5.0) */
  protocolLevel: 3 | 4 | 5;
  /** may be empty: a 3.1.1 / 5.0 client may leave the server to assign one */
  clientId: string;
  username?: string;
  keepAliveSeconds: number;
}

export type MqttConnectResult = FirstBytesResult<{ connect: MqttConnect }>;

export interface MqttConnectReaderOptions {
  /** the largest CONNECT packet accepted (default 16 KiB) */
  maxPacketBytes?: number;
}

export class MqttConnectReader {
  readonly #max: number;
  #header = new Uint8Array(FIXED_HEADER_MAX_BYTES);
  #headerFilled = 0;
  #packet: Uint8Array | undefined;
  #packetFilled = 0;
  /** where the variable header starts in `#packet` */
  #bodyStart = 0;
  #final: MqttConnectResult | undefined;

  constructor(options: MqttConnectReaderOptions = {}) {
    const max = options.maxPacketBytes ?? MQTT_CONNECT_DEFAULT_MAX_BYTES;
    if (!Number.isInteger(max) || max < 2) throw new RangeError(`maxPacketBytes must be an integer ≥ 2, got ${max}`);
    this.#max = max;
  }

  /** Feeds the next chunk the client sent. After `done` or `error`, answers the same again. */
  push(chunk: Uint8Array): MqttConnectResult {
    if (this.#final) return this.#final;
    let offset = 0;
    while (!this.#packet && offset < chunk.byteLength) {
      const byte = chunk[offset++]!;
      this.#header[this.#headerFilled++] = byte;
      const step = this.#readFixedHeader();
      if (step !== undefined) {
        this.#final = step;
        return step;
      }
    }
    const packet = this.#packet;
    if (!packet) return NEED_MORE;
    const take = Math.min(packet.byteLength - this.#packetFilled, chunk.byteLength - offset);
    packet.set(chunk.subarray(offset, offset + take), this.#packetFilled);
    this.#packetFilled += take;
    if (this.#packetFilled < packet.byteLength) return NEED_MORE;
    this.#final = parseConnect(packet, this.#bodyStart);
    return this.#final;
  }

  /** After each fixed-header byte: an error, or undefined (the packet buffer is ready once its size is known). */
  #readFixedHeader(): MqttConnectResult | undefined {
    const h = this.#header;
    const n = this.#headerFilled;
    if (n === 1) {
      if (h[0] === CONNECT) return undefined;
      return fail(`not an MQTT CONNECT packet: first byte 0x${hex(h[0]!)} (CONNECT is 0x10)`);
    }
    const last = h[n - 1]!;
    if (last & 0x80) {
      if (n === FIXED_HEADER_MAX_BYTES) return fail("malformed Remaining Length: more than 4 bytes");
      return undefined;
    }
    let remaining = 0;
    for (let i = n - 1; i >= 1; i--) remaining = remaining * 128 + (h[i]! & 0x7f);
    const total = n + remaining;
    if (total > this.#max) return fail(`CONNECT packet of ${total} bytes exceeds the limit of ${this.#max}`);
    this.#packet = new Uint8Array(total);
    this.#packet.set(h.subarray(0, n));
    this.#packetFilled = n;
    this.#bodyStart = n;
    return undefined;
  }
}

/** Parses a CONNECT that must be complete in `bytes` (e.g. a buffer a caller gathered). */
export function readMqttConnect(bytes: Uint8Array, options?: MqttConnectReaderOptions): MqttConnectResult {
  return complete(new MqttConnectReader(options).push(bytes), bytes.byteLength, "CONNECT packet");
}

/** thrown inside the parse only, turned into an `error` result */
class Malformed extends Error {}

// ignoreBOM: a leading U+FEFF is part of the string (MQTT 3.1.1 §1.5.3: it "MUST NOT be skipped over or
// stripped off"), so "\uFEFFid" and "id" stay two client ids
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A cursor over the packet's body that refuses to read past its end. */
class Cursor {
  constructor(
    readonly b: Uint8Array,
    public p: number,
  ) {}

  need(count: number, what: string): void {
    if (this.p + count > this.b.byteLength) throw new Malformed(`${what} runs past the packet's end`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.b[this.p++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.b[this.p]! << 8) | this.b[this.p + 1]!;
    this.p += 2;
    return v;
  }

  skip(count: number, what: string): void {
    this.need(count, what);
    this.p += count;
  }

  /** a Variable Byte Integer (MQTT 5 §1.5.5) */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.byte(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw new Malformed(`${what}: a variable byte integer longer than 4 bytes`);
  }

  /** a UTF-8 Encoded String: well-formed UTF-8 without U+0000 (MQTT 3.1.1 §1.5.3, 5.0 §1.5.4) */
  string(what: string): string {
    const length = this.u16(what);
    this.need(length, what);
    let text: string;
    try {
      text = utf8.decode(this.b.subarray(this.p, this.p + length));
    } catch {
      throw new Malformed(`${what} is not well-formed UTF-8`);
    }
    if (text.includes("\u0000")) throw new Malformed(`${what} contains U+0000`);
    this.p += length;
    return text;
  }

  /** Binary Data: a two-byte length and that many bytes */
  binary(what: string): void {
    this.skip(this.u16(what), what);
  }
}

function parseConnect(packet: Uint8Array, bodyStart: number): MqttConnectResult {
  try {
    const c = new Cursor(packet, bodyStart);
    const protocolName = c.string("protocol name");
    const protocolLevel = c.byte("protocol level");
    const known =
      protocolName === "MQTT"
        ? protocolLevel === 4 || protocolLevel === 5
        : protocolName === "MQIsdp" && protocolLevel === 3;
    if (!known) {
      const name = protocolName.replace(/[^\x20-\x7e]/g, "?").slice(0, 32);
      return fail(`unsupported protocol "${name}" level ${protocolLevel} (MQTT level 4 or 5, MQIsdp level 3)`);
    }
    const v5 = protocolLevel === 5;
    const flags = c.byte("connect flags");
    if (flags & 0x01) return fail("connect flags: the reserved bit 0 is set");
    const will = (flags & 0x04) !== 0;
    const willQos = (flags >> 3) & 0x03;
    if (willQos === 3) return fail("connect flags: Will QoS 3");
    if (!will && (willQos !== 0 || flags & 0x20))
      return fail("connect flags: Will QoS or Retain set without the Will flag");
    const hasPassword = (flags & 0x40) !== 0;
    const hasUsername = (flags & 0x80) !== 0;
    // MQTT 3.1.1 §3.1.2.9: no password without a user name (MQTT 5 allows it)
    if (hasPassword && !hasUsername && !v5) return fail("connect flags: Password flag set without the User Name flag");
    const keepAliveSeconds = c.u16("keep alive");
    if (v5) skipProperties(c, "CONNECT properties");
    const clientId = c.string("client id");
    if (will) {
      if (v5) skipProperties(c, "will properties");
      c.string("will topic");
      c.binary("will payload");
    }
    const username = hasUsername ? c.string("user name") : undefined;
    if (hasPassword) c.binary("password");
    if (c.p !== packet.byteLength) {
      return fail(`${packet.byteLength - c.p} bytes after the CONNECT payload's last field`);
    }
    const connect: MqttConnect = {
      protocolName: protocolName as MqttConnect["protocolName"],
      protocolLevel: protocolLevel as MqttConnect["protocolLevel"],
      clientId,
      keepAliveSeconds,
    };
    if (username !== undefined) connect.username = username;
    return { kind: "done", connect, consumed: packet.byteLength };
  } catch (error) {
    if (error instanceof Malformed) return fail(`malformed CONNECT: ${error.message}`);
    throw error;
  }
}

/** the type of an MQTT 5 property's value, by how it is skipped */
const BYTE = 1;
const TWO_BYTE = 2;
const FOUR_BYTE = 4;
const VARINT = 5;
const STRING = 6;
const BINARY = 7;
const STRING_PAIR = 8;

/** MQTT 5 property identifiers (§2.2.2.2) and their value types */
const PROPERTY_TYPES: ReadonlyMap<number, number> = new Map([
  [0x01, BYTE], // payload format indicator
  [0x02, FOUR_BYTE], // message expiry interval
  [0x03, STRING], // content type
  [0x08, STRING], // response topic
  [0x09, BINARY], // correlation data
  [0x0b, VARINT], // subscription identifier
  [0x11, FOUR_BYTE], // session expiry interval
  [0x12, STRING], // assigned client identifier
  [0x13, TWO_BYTE], // server keep alive
  [0x15, STRING], // authentication method
  [0x16, BINARY], // authentication data
  [0x17, BYTE], // request problem information
  [0x18, FOUR_BYTE], // will delay interval
  [0x19, BYTE], // request response information
  [0x1a, STRING], // response information
  [0x1c, STRING], // server reference
  [0x1f, STRING], // reason string
  [0x21, TWO_BYTE], // receive maximum
  [0x22, TWO_BYTE], // topic alias maximum
  [0x23, TWO_BYTE], // topic alias
  [0x24, BYTE], // maximum QoS
  [0x25, BYTE], // retain available
  [0x26, STRING_PAIR], // user property
  [0x27, FOUR_BYTE], // maximum packet size
  [0x28, BYTE], // wildcard subscription available
  [0x29, BYTE], // subscription identifier available
  [0x2a, BYTE], // shared subscription available
]);

/** Skips a property list, walking each property so that one overrunning the list's length is caught. */
function skipProperties(c: Cursor, what: string): void {
  const length = c.varint(`${what} length`);
  c.need(length, what);
  const end = c.p + length;
  const inner = new Cursor(c.b.subarray(0, end), c.p);
  while (inner.p < end) {
    const id = inner.varint(what);
    const type = PROPERTY_TYPES.get(id);
    const name = `${what}: property 0x${hex(id)}`;
    if (type === undefined) throw new Malformed(`${what}: unknown property 0x${hex(id)}`);
    if (type === BYTE) inner.skip(1, name);
    else if (type === TWO_BYTE) inner.skip(2, name);
    else if (type === FOUR_BYTE) inner.skip(4, name);
    else if (type === VARINT) inner.varint(name);
    else if (type === BINARY) inner.binary(name);
    else {
      inner.string(name);
      if (type === STRING_PAIR) inner.string(name);
    }
  }
  c.p = end;
}
