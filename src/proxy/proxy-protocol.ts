/**
 * The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`): version 1 (a text line) and version 2 (a
 * binary block) that a load balancer writes before the client's first byte, naming the real client and
 * server addresses. `ProxyHeaderDecoder` reads one header from the chunks a connection delivers, detects
 * the version from the signature, and never holds more than the header's bounded size; the encoders write
 * the header Sluice sends to an upstream.
 */
import ipaddr from "ipaddr.js";
import { complete, type FirstBytesResult, refuse as fail, hexByte as hex, NEED_MORE } from "./first-bytes.ts";

/** a v1 line is at most 107 bytes with its CRLF (spec §2.1: "PROXY UNKNOWN" + two IPv6 + two ports) */
export const PROXY_V1_MAX_BYTES = 107;
/** the fixed part of a v2 header: signature (12), version and command, family and transport, length (2) */
export const PROXY_V2_FIXED_BYTES = 16;
/** the default limit for a v2 header: the largest address block (AF_UNIX, 216 bytes) and no TLV room beyond it */
export const PROXY_V2_DEFAULT_MAX_BYTES = PROXY_V2_FIXED_BYTES + 216;

const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const CR = 0x0d;
const LF = 0x0a;

export interface ProxyEndpoint {
  /** IPv4 dotted quad, or IPv6 in its RFC 5952 form (an IPv4-mapped one as `::ffff:a.b.c.d`) */
  address: string;
  port: number;
}

export type ProxyFamily = "tcp4" | "tcp6" | "udp4" | "udp6" | "unix" | "unknown";

export type ProxyHeader =
  /**
   * A proxied connection. `source` and `destination` are present for the four IP families; for `unix`
   * and `unknown` the receiver keeps the connection's own addresses (spec §2.1 UNKNOWN, §2.2 AF_UNSPEC).
   */
  | {
      version: 1 | 2;
      command: "proxy";
      family: ProxyFamily;
      source?: ProxyEndpoint;
      destination?: ProxyEndpoint;
    }
  /** v2 LOCAL: the proxy's own connection (a health check); the connection's own addresses apply */
  | { version: 2; command: "local" };

export type ProxyDecodeResult = FirstBytesResult<{
  header: ProxyHeader;
  /** the bytes of the last chunk after the header (a view, not a copy): the client's first payload */
  rest: Uint8Array;
}>;

export interface ProxyDecoderOptions {
  /** the largest v2 header accepted, TLVs included (default 232; at most 16 + 65535) */
  maxV2Bytes?: number;
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes one PROXY header from a connection's first chunks. Each byte is looked at a bounded number of
 * times and at most the header's own bytes are copied (into one buffer of at most 107 bytes for v1, the
 * header's announced length for v2). After an `error` the decoder answers it again.
 */
export class ProxyHeaderDecoder {
  readonly #maxV2: number;
  #buffer = new Uint8Array(PROXY_V1_MAX_BYTES);
  #filled = 0;
  /** v1: bytes already searched for CR LF */
  #scanned = 0;
  #version: 0 | 1 | 2 = 0;
  /** v2: the whole header's length once the fixed part is in */
  #total = 0;
  #final: ProxyDecodeResult | undefined;

  constructor(options: ProxyDecoderOptions = {}) {
    const max = options.maxV2Bytes ?? PROXY_V2_DEFAULT_MAX_BYTES;
    if (!Number.isInteger(max) || max < PROXY_V2_FIXED_BYTES || max > PROXY_V2_FIXED_BYTES + 0xffff) {
      throw new RangeError(`maxV2Bytes must be an integer from 16 to 65551, got ${max}`);
    }
    this.#maxV2 = max;
  }

  /** Feeds the next chunk the client sent. After `done`, a further chunk comes back whole as `rest`. */
  push(chunk: Uint8Array): ProxyDecodeResult {
    if (this.#final) return this.#final.kind === "done" ? { ...this.#final, rest: chunk } : this.#final;
    const held = this.#filled;
    let offset = 0;
    while (offset < chunk.byteLength) {
      const take = Math.min(this.#wanted() - this.#filled, chunk.byteLength - offset);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#filled);
      const from = this.#filled;
      this.#filled += take;
      offset += take;
      const step = this.#advance(from);
      if (step === "more") continue;
      // v1 copies ahead of the CRLF: the header's end, not the copy's, is where the payload starts
      if (step.kind === "done") step.rest = chunk.subarray(step.consumed - held);
      this.#final = step;
      return step;
    }
    return NEED_MORE;
  }

  /** how many bytes the buffer should hold before the next look */
  #wanted(): number {
    if (this.#version === 0) return this.#filled + 1;
    if (this.#version === 1) return PROXY_V1_MAX_BYTES;
    return this.#total || PROXY_V2_FIXED_BYTES;
  }

  /** looks at the bytes from `from` on; "more" when the header is not complete yet */
  #advance(from: number): "more" | ProxyDecodeResult {
    const b = this.#buffer;
    if (this.#version === 0) {
      const first = b[0]!;
      if (first === V1_PREFIX[0]) this.#version = 1;
      else if (first === V2_SIGNATURE[0]) this.#version = 2;
      else return fail(`not a PROXY protocol header: first byte 0x${hex(first)}`);
    }
    if (this.#version === 1) {
      for (let i = from; i < Math.min(this.#filled, V1_PREFIX.length); i++) {
        if (b[i] !== V1_PREFIX[i]) return fail('not a PROXY protocol header: a v1 header starts with "PROXY "');
      }
      // Spec §2.1: a single CR or LF must not end the line.
      for (let i = Math.max(this.#scanned, 1); i < this.#filled; i++) {
        if (b[i] === LF) return b[i - 1] === CR ? decodeV1(b, i + 1) : fail("PROXY v1: a lone LF before the CRLF");
        if (b[i - 1] === CR) return fail("PROXY v1: a lone CR before the CRLF");
      }
      this.#scanned = this.#filled;
      if (this.#filled >= PROXY_V1_MAX_BYTES) {
        return fail(`PROXY v1 header longer than ${PROXY_V1_MAX_BYTES} bytes (no CRLF)`);
      }
      return "more";
    }
    for (let i = from; i < Math.min(this.#filled, V2_SIGNATURE.length); i++) {
      if (b[i] !== V2_SIGNATURE[i]) return fail("not a PROXY protocol header: wrong v2 signature");
    }
    if (this.#filled < PROXY_V2_FIXED_BYTES) return "more";
    if (this.#total === 0) {
      const total = PROXY_V2_FIXED_BYTES + ((b[14]! << 8) | b[15]!);
      if (total > this.#maxV2) return fail(`PROXY v2 header of ${total} bytes exceeds the limit of ${this.#maxV2}`);
      this.#total = total;
      if (total > b.byteLength) {
        this.#buffer = new Uint8Array(total);
        this.#buffer.set(b.subarray(0, this.#filled));
      }
      if (this.#filled < total) return "more";
    }
    if (this.#filled < this.#total) return "more";
    return decodeV2(this.#buffer, this.#total);
  }
}

/**
 * Decodes a header that must be complete in `bytes`: a UDP datagram (v2 carries one at the start of each)
 * or a buffer a caller gathered. Truncation is an error here.
 */
export function decodeProxyHeader(bytes: Uint8Array, options?: ProxyDecoderOptions): ProxyDecodeResult {
  return complete(new ProxyHeaderDecoder(options).push(bytes), bytes.byteLength, "PROXY header");
}

// ---- version 1 ----

const DECIMAL_PORT = /^(0|[1-9][0-9]{0,4})$/;

function decodeV1(b: Uint8Array, length: number): ProxyDecodeResult {
  // The line is ASCII by definition; any other byte makes it malformed, which the field checks reject.
  let line = "";
  for (let i = V1_PREFIX.length; i < length - 2; i++) line += String.fromCharCode(b[i]!);
  const done = (header: ProxyHeader): ProxyDecodeResult => ({ kind: "done", header, consumed: length, rest: EMPTY });
  // Spec §2.1: with UNKNOWN the receiver ignores everything up to the CRLF.
  if (line === "UNKNOWN" || line.startsWith("UNKNOWN "))
    return done({ version: 1, command: "proxy", family: "unknown" });
  const fields = line.split(" ");
  const [protocol, src, dst, sport, dport] = fields;
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    return fail(`PROXY v1: unknown protocol "${printable(protocol ?? "")}" (TCP4, TCP6 or UNKNOWN)`);
  }
  if (fields.length !== 5) return fail(`PROXY v1: expected 4 fields after ${protocol}, separated by one space each`);
  const v4 = protocol === "TCP4";
  const source = v1Address(src!, v4, "source");
  if (typeof source !== "string") return source;
  const destination = v1Address(dst!, v4, "destination");
  if (typeof destination !== "string") return destination;
  const sourcePort = v1Port(sport!, "source");
  if (typeof sourcePort !== "number") return sourcePort;
  const destinationPort = v1Port(dport!, "destination");
  if (typeof destinationPort !== "number") return destinationPort;
  return done({
    version: 1,
    command: "proxy",
    family: v4 ? "tcp4" : "tcp6",
    source: { address: source, port: sourcePort },
    destination: { address: destination, port: destinationPort },
  });
}

function v1Address(text: string, v4: boolean, which: string): string | ProxyDecodeResult {
  if (v4) {
    // four decimal numbers 0–255, no leading zeroes (they could be read as octal)
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) return text;
    return fail(`PROXY v1: ${which} address "${printable(text)}" is not an IPv4 address`);
  }
  if (!text.includes("%") && ipaddr.IPv6.isValid(text)) return formatIPv6(ipaddr.IPv6.parse(text));
  return fail(`PROXY v1: ${which} address "${printable(text)}" is not an IPv6 address`);
}

function v1Port(text: string, which: string): number | ProxyDecodeResult {
  const port = DECIMAL_PORT.test(text) ? Number(text) : Number.NaN;
  if (port >= 0 && port <= 65535) return port;
  return fail(`PROXY v1: ${which} port "${printable(text)}" is not a number from 0 to 65535 without leading zeroes`);
}

/** keeps a reason readable and short when a client sent binary garbage */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 48 ? `${clean.slice(0, 48)}…` : clean;
}

// ---- version 2 ----

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const TRANSPORT_UNSPEC = 0x0;
const TRANSPORT_STREAM = 0x1;
const TRANSPORT_DGRAM = 0x2;
/** the address block's size per address family (spec §2.2) */
const ADDRESS_BYTES = [0, 12, 36, 216];

function decodeV2(b: Uint8Array, total: number): ProxyDecodeResult {
  const versionCommand = b[12]!;
  if (versionCommand >> 4 !== 2) return fail(`PROXY v2: version ${versionCommand >> 4} in byte 13 (must be 2)`);
  const command = versionCommand & 0x0f;
  const done = (header: ProxyHeader): ProxyDecodeResult => ({ kind: "done", header, consumed: total, rest: EMPTY });
  // Spec §2.2: LOCAL means "use the real connection endpoints and discard the protocol block including the family".
  if (command === COMMAND_LOCAL) return done({ version: 2, command: "local" });
  if (command !== COMMAND_PROXY) return fail(`PROXY v2: unknown command 0x${hex(command)} (LOCAL 0x0 or PROXY 0x1)`);
  const familyByte = b[13]!;
  const family = familyByte >> 4;
  const transport = familyByte & 0x0f;
  if (family > AF_UNIX || transport > TRANSPORT_DGRAM) {
    return fail(`PROXY v2: unknown address family and transport 0x${hex(familyByte)}`);
  }
  if (family === AF_UNSPEC || transport === TRANSPORT_UNSPEC) {
    // Spec §2.2: with AF_UNSPEC (or an unspecified transport) the receiver ignores the address information,
    // whose layout is then unknown: nothing after the fixed part is looked at.
    return done({ version: 2, command: "proxy", family: "unknown" });
  }
  const addressBytes = ADDRESS_BYTES[family]!;
  if (total - PROXY_V2_FIXED_BYTES < addressBytes) {
    return fail(
      `PROXY v2: length ${total - PROXY_V2_FIXED_BYTES} is shorter than the ${addressBytes}-byte address block of family 0x${hex(familyByte)}`,
    );
  }
  const tlvError = checkTlvs(b, PROXY_V2_FIXED_BYTES + addressBytes, total);
  if (tlvError) return fail(tlvError);
  if (family === AF_UNIX) return done({ version: 2, command: "proxy", family: "unix" });
  const stream = transport === TRANSPORT_STREAM;
  const at = PROXY_V2_FIXED_BYTES;
  if (family === AF_INET) {
    return done({
      version: 2,
      command: "proxy",
      family: stream ? "tcp4" : "udp4",
      source: { address: formatIPv4(b, at), port: (b[at + 8]! << 8) | b[at + 9]! },
      destination: { address: formatIPv4(b, at + 4), port: (b[at + 10]! << 8) | b[at + 11]! },
    });
  }
  return done({
    version: 2,
    command: "proxy",
    family: stream ? "tcp6" : "udp6",
    source: { address: formatIPv6Bytes(b, at), port: (b[at + 32]! << 8) | b[at + 33]! },
    destination: { address: formatIPv6Bytes(b, at + 16), port: (b[at + 34]! << 8) | b[at + 35]! },
  });
}

/** TLVs (type, 16-bit length, value) fill the rest of the header exactly; they are skipped, not kept */
function checkTlvs(b: Uint8Array, start: number, end: number): string | undefined {
  let p = start;
  while (p < end) {
    if (p + 3 > end) return `PROXY v2: a TLV header at offset ${p} runs past the header's end`;
    const length = (b[p + 1]! << 8) | b[p + 2]!;
    if (p + 3 + length > end) return `PROXY v2: TLV type 0x${hex(b[p]!)} of ${length} bytes runs past the header's end`;
    p += 3 + length;
  }
  return undefined;
}

function formatIPv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function formatIPv6Bytes(b: Uint8Array, at: number): string {
  return formatIPv6(ipaddr.fromByteArray(Array.from(b.subarray(at, at + 16))) as ipaddr.IPv6);
}

/** RFC 5952 text, an IPv4-mapped address as `::ffff:a.b.c.d` (the form Node and inet_ntop print) */
function formatIPv6(address: ipaddr.IPv6): string {
  if (address.isIPv4MappedAddress()) return `::ffff:${address.toIPv4Address().toString()}`;
  return address.toString();
}

// ---- encoders ----

export interface ProxyAddresses {
  /** the real client */
  source: ProxyEndpoint;
  /** the address the client connected to */
  destination: ProxyEndpoint;
}

interface ParsedAddresses {
  v6: boolean;
  source: number[];
  destination: number[];
}

/**
 * Parses both addresses for a header. When one is IPv6 and the other IPv4, the IPv4 one is written as
 * IPv4-mapped IPv6, since a header has one family (HAProxy does the same).
 */
function parseAddresses({ source, destination }: ProxyAddresses): ParsedAddresses {
  const src = parseEndpoint(source, "source");
  const dst = parseEndpoint(destination, "destination");
  const v6 = src.kind() === "ipv6" || dst.kind() === "ipv6";
  const bytes = (a: ipaddr.IPv4 | ipaddr.IPv6) =>
    v6 && a.kind() === "ipv4" ? (a as ipaddr.IPv4).toIPv4MappedAddress().toByteArray() : a.toByteArray();
  return { v6, source: bytes(src), destination: bytes(dst) };
}

function parseEndpoint(endpoint: ProxyEndpoint, which: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw new RangeError(`PROXY header: ${which} port must be an integer from 0 to 65535, got ${endpoint.port}`);
  }
  if (!endpoint.address.includes("%") && ipaddr.isValid(endpoint.address)) {
    const parsed = ipaddr.parse(endpoint.address);
    // a four-part dotted quad only: ipaddr also accepts "1" or "0x7f.1" as IPv4
    if (parsed.kind() === "ipv6" || ipaddr.IPv4.isValidFourPartDecimal(endpoint.address)) return parsed;
  }
  throw new RangeError(`PROXY header: ${which} address must be an IPv4 or IPv6 address, got "${endpoint.address}"`);
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n`; without addresses, `PROXY UNKNOWN\r\n` */
export function encodeProxyV1(addresses?: ProxyAddresses): Uint8Array {
  if (!addresses) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  const { v6, source, destination } = parseAddresses(addresses);
  const text = (bytes: number[]) => (v6 ? formatIPv6(ipaddr.fromByteArray(bytes) as ipaddr.IPv6) : bytes.join("."));
  return new TextEncoder().encode(
    `PROXY ${v6 ? "TCP6" : "TCP4"} ${text(source)} ${text(destination)} ${addresses.source.port} ${addresses.destination.port}\r\n`,
  );
}

/**
 * A v2 header with the PROXY command for a TCP connection or a UDP datagram; without addresses, the
 * LOCAL command (the proxy's own connection, e.g. a health check).
 */
export function encodeProxyV2(addresses?: ProxyAddresses, transport: "tcp" | "udp" = "tcp"): Uint8Array {
  if (!addresses) return v2Header(COMMAND_LOCAL, (AF_UNSPEC << 4) | TRANSPORT_UNSPEC, 0);
  const { v6, source, destination } = parseAddresses(addresses);
  const family = v6 ? AF_INET6 : AF_INET;
  const addressBytes = ADDRESS_BYTES[family]!;
  const out = v2Header(
    COMMAND_PROXY,
    (family << 4) | (transport === "udp" ? TRANSPORT_DGRAM : TRANSPORT_STREAM),
    addressBytes,
  );
  const at = PROXY_V2_FIXED_BYTES;
  const size = source.length;
  out.set(source, at);
  out.set(destination, at + size);
  const ports = at + 2 * size;
  out[ports] = addresses.source.port >> 8;
  out[ports + 1] = addresses.source.port & 0xff;
  out[ports + 2] = addresses.destination.port >> 8;
  out[ports + 3] = addresses.destination.port & 0xff;
  return out;
}

function v2Header(command: number, familyTransport: number, length: number): Uint8Array {
  const out = new Uint8Array(PROXY_V2_FIXED_BYTES + length);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x20 | command;
  out[13] = familyTransport;
  out[14] = length >> 8;
  out[15] = length & 0xff;
  return out;
}
