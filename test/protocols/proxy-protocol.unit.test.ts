/**
 * The PROXY protocol decoder and encoders against HAProxy's specification, `doc/proxy-protocol.txt`
 * (https://github.com/haproxy/haproxy/blob/master/doc/proxy-protocol.txt): its examples and limits (§2.1 the
 * v1 line and its maximum lengths, §2.2 the v2 block, commands, families and lengths, §2.2.x TLVs), fed
 * whole, byte by byte and with the payload in the same chunk, plus the malformed cases a receiver must
 * refuse ("Any sequence which does not exactly match the protocol must be discarded").
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  PROXY_V2_DEFAULT_MAX_BYTES,
  type ProxyDecodeResult,
  ProxyHeaderDecoder,
} from "../../src/proxy/proxy-protocol.ts";

const text = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const SIG = "0d0a0d0a000d0a515549540a";
const hex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

/** decodes `bytes` split into chunks of `size` (1 = byte by byte), returning the final result */
function feed(bytes: Uint8Array, size: number): ProxyDecodeResult {
  const decoder = new ProxyHeaderDecoder();
  let result: ProxyDecodeResult = { kind: "need-more" };
  for (let i = 0; i < bytes.byteLength && result.kind === "need-more"; i += size) {
    result = decoder.push(bytes.subarray(i, i + size));
  }
  return result;
}

/** the same answer whole, byte by byte, and in chunks of 7 */
function decodeEveryWay(bytes: Uint8Array): ProxyDecodeResult {
  const whole = feed(bytes, bytes.byteLength);
  for (const size of [1, 7]) {
    const split = feed(bytes, size);
    assert.deepEqual({ ...split, rest: undefined }, { ...whole, rest: undefined }, `chunks of ${size}`);
  }
  return whole;
}

function done(result: ProxyDecodeResult) {
  assert.equal(result.kind, "done", result.kind === "error" ? result.reason : "need-more");
  return result as ProxyDecodeResult & { kind: "done" };
}

function error(result: ProxyDecodeResult, pattern: RegExp) {
  assert.equal(result.kind, "error", `expected an error, got ${JSON.stringify(result)}`);
  assert.match((result as { reason: string }).reason, pattern);
}

describe("PROXY v1 (spec §2.1)", () => {
  test("the spec's example line before an HTTP request: addresses, ports and where the request starts", () => {
    const request = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
    const bytes = text(`PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n${request}`);
    const result = done(decodeEveryWay(bytes));
    assert.deepEqual(result.header, {
      version: 1,
      command: "proxy",
      family: "tcp4",
      source: { address: "192.168.0.1", port: 56324 },
      destination: { address: "192.168.0.11", port: 443 },
    });
    assert.equal(result.consumed, 47);
    assert.equal(Buffer.from(result.rest).toString("latin1"), request);
  });

  test("the spec's maximum lines: TCP4 56 chars, TCP6 104 chars, UNKNOWN worst case 107 chars", () => {
    const v4 = text("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    assert.equal(v4.byteLength, 56);
    assert.equal(done(decodeEveryWay(v4)).header.command, "proxy");
    const ffff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const v6 = text(`PROXY TCP6 ${ffff} ${ffff} 65535 65535\r\n`);
    assert.equal(v6.byteLength, 104);
    const r6 = done(decodeEveryWay(v6));
    assert.deepEqual(r6.header, {
      version: 1,
      command: "proxy",
      family: "tcp6",
      source: { address: ffff, port: 65535 },
      destination: { address: ffff, port: 65535 },
    });
    const worst = text(`PROXY UNKNOWN ${ffff} ${ffff} 65535 65535\r\n`);
    assert.equal(worst.byteLength, 107);
    const rw = done(decodeEveryWay(worst));
    assert.deepEqual(rw.header, { version: 1, command: "proxy", family: "unknown" });
    assert.equal(rw.consumed, 107);
  });

  test("UNKNOWN short form (15 chars): the connection's own addresses apply", () => {
    const result = done(decodeEveryWay(text("PROXY UNKNOWN\r\nhello")));
    assert.deepEqual(result.header, { version: 1, command: "proxy", family: "unknown" });
    assert.equal(result.consumed, 15);
    assert.equal(Buffer.from(result.rest).toString(), "hello");
  });

  test("IPv6 text forms: compressed, upper case, IPv4-mapped come out in one canonical form", () => {
    const cases: [string, string][] = [
      ["::1", "::1"],
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["::ffff:192.0.2.7", "::ffff:192.0.2.7"],
      ["fe80::", "fe80::"],
    ];
    for (const [sent, seen] of cases) {
      const result = done(decodeEveryWay(text(`PROXY TCP6 ${sent} ::2 1 2\r\n`)));
      assert.equal(result.header.command === "proxy" && result.header.source?.address, seen, sent);
    }
  });

  test("ports 0 and 65535 are in range; 65536, leading zeroes, signs and blanks are refused", () => {
    assert.equal(done(decodeEveryWay(text("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"))).consumed, 36);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n"), 64), /source port "65536".*0 to 65535/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n"), 64), /destination port "080"/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 -1 80\r\n"), 64), /source port "-1"/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999\r\n"), 64), /destination port "99999999"/);
  });

  test("addresses must match the announced family and the canonical forms", () => {
    error(feed(text("PROXY TCP4 ::1 1.2.3.4 1 2\r\n"), 64), /source address "::1" is not an IPv4/);
    error(feed(text("PROXY TCP6 ::1 1.2.3.4 1 2\r\n"), 64), /destination address "1.2.3.4" is not an IPv6/);
    error(feed(text("PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n"), 64), /"01.2.3.4" is not an IPv4/); // octal-looking
    error(feed(text("PROXY TCP4 256.2.3.4 1.2.3.4 1 2\r\n"), 64), /"256.2.3.4"/);
    error(feed(text("PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n"), 64), /"1.2.3"/);
    error(feed(text("PROXY TCP6 1::2::3 ::1 1 2\r\n"), 64), /"1::2::3"/);
    error(feed(text("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), 64), /"fe80::1%eth0"/);
  });

  test("exactly one space between fields, and only TCP4, TCP6, UNKNOWN", () => {
    error(feed(text("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), 64), /4 fields after TCP4/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), 64), /4 fields after TCP4/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), 64), /4 fields after TCP4/);
    error(feed(text("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), 64), /unknown protocol "UDP4"/);
    error(feed(text("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), 64), /unknown protocol "tcp4"/);
  });

  test("a single CR or LF does not end the line", () => {
    error(feed(text("PROXY UNKNOWN\nrest\r\n"), 64), /lone LF/);
    error(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\r\n"), 1), /lone CR/);
  });

  test("no CRLF within 107 bytes is an error at byte 107, not a wait for more", () => {
    const long = text(`PROXY UNKNOWN ${"x".repeat(200)}\r\n`);
    error(feed(long, 1), /longer than 107 bytes/);
    const decoder = new ProxyHeaderDecoder();
    assert.equal(decoder.push(long.subarray(0, 106)).kind, "need-more");
    error(decoder.push(long.subarray(106, 107)), /longer than 107 bytes/);
  });

  test("wrong signature: refused at the first byte that differs", () => {
    const decoder = new ProxyHeaderDecoder();
    assert.equal(decoder.push(text("PRO")).kind, "need-more");
    error(decoder.push(text("ZY TCP4")), /starts with "PROXY "/);
    error(feed(text("GET / HTTP/1.1\r\n"), 1), /first byte 0x47/);
    error(feed(text("\x16\x03\x01"), 1), /first byte 0x16/); // a TLS ClientHello
    error(feed(text("proxy TCP4"), 64), /first byte 0x70/);
  });

  test("truncated: need-more from the stream decoder, an error from the one-shot decoder", () => {
    const bytes = text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r");
    assert.equal(feed(bytes, 1).kind, "need-more");
    error(decodeProxyHeader(bytes), /truncated PROXY header: 31 bytes/);
  });
});

describe("PROXY v2 (spec §2.2)", () => {
  test("TCP over IPv4 (\\x11), as HAProxy writes it, with the payload in the same chunk", () => {
    // 172.19.0.1:42578 → 172.19.0.3:80, then "GET "
    const bytes = hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050 47455420`);
    const result = done(decodeEveryWay(bytes));
    assert.deepEqual(result.header, {
      version: 2,
      command: "proxy",
      family: "tcp4",
      source: { address: "172.19.0.1", port: 42578 },
      destination: { address: "172.19.0.3", port: 80 },
    });
    assert.equal(result.consumed, 28);
    assert.equal(Buffer.from(result.rest).toString(), "GET ");
  });

  test("UDP over IPv4 (\\x12), TCP and UDP over IPv6 (\\x21, \\x22)", () => {
    const udp4 = done(decodeEveryWay(hex(`${SIG} 21 12 000c 0a000001 0a000002 1388 0035`)));
    assert.equal(udp4.header.command === "proxy" && udp4.header.family, "udp4");
    const v6src = "20010db8000000000000000000000001";
    const v6dst = "00000000000000000000ffffc0000207";
    for (const [fam, family] of [
      ["21", "tcp6"],
      ["22", "udp6"],
    ] as const) {
      const result = done(decodeEveryWay(hex(`${SIG} 21 ${fam} 0024 ${v6src} ${v6dst} 0001 ffff`)));
      assert.deepEqual(result.header, {
        version: 2,
        command: "proxy",
        family,
        source: { address: "2001:db8::1", port: 1 },
        destination: { address: "::ffff:192.0.2.7", port: 65535 },
      });
      assert.equal(result.consumed, 52);
    }
  });

  test("LOCAL: accepted whatever the family, and its announced length is skipped (not assumed zero)", () => {
    const plain = done(decodeEveryWay(hex(`${SIG} 20 00 0000`)));
    assert.deepEqual(plain.header, { version: 2, command: "local" });
    assert.equal(plain.consumed, 16);
    const withBlock = done(decodeEveryWay(hex(`${SIG} 20 11 000c 7f000001 7f000001 0001 0002 ff`)));
    assert.deepEqual(withBlock.header, { version: 2, command: "local" });
    assert.equal(withBlock.consumed, 28);
    assert.deepEqual([...withBlock.rest], [0xff]);
  });

  test("AF_UNSPEC, an unspecified transport and AF_UNIX: the connection's own addresses apply", () => {
    assert.deepEqual(done(decodeEveryWay(hex(`${SIG} 21 00 0003 010203`))).header, {
      version: 2,
      command: "proxy",
      family: "unknown",
    });
    assert.equal(done(decodeEveryWay(hex(`${SIG} 21 10 0000`))).header.command, "proxy");
    const unix = done(decodeEveryWay(hex(`${SIG} 21 31 00d8 ${"00".repeat(216)}`)));
    assert.deepEqual(unix.header, { version: 2, command: "proxy", family: "unix" });
    assert.equal(unix.consumed, 232);
  });

  test("TLVs after the addresses are skipped; one running past the header is refused", () => {
    // PP2_TYPE_ALPN (0x01) "h2", PP2_TYPE_AUTHORITY (0x02) "example.com", PP2_TYPE_NOOP (0x04) empty
    const tlvs = `01 0002 6832 02 000b ${Buffer.from("example.com").toString("hex")} 04 0000`;
    const length = (12 + 5 + 14 + 3).toString(16).padStart(4, "0");
    const result = done(decodeEveryWay(hex(`${SIG} 21 11 ${length} 01020304 05060708 0001 0002 ${tlvs} 4142`)));
    assert.equal(result.header.command === "proxy" && result.header.source?.address, "1.2.3.4");
    assert.equal(result.consumed, 16 + 34);
    assert.equal(Buffer.from(result.rest).toString(), "AB");
    error(feed(hex(`${SIG} 21 11 0011 01020304 05060708 0001 0002 02 0009 4142`), 64), /TLV type 0x02 of 9 bytes/);
    error(feed(hex(`${SIG} 21 11 000e 01020304 05060708 0001 0002 0200`), 64), /TLV header at offset 28/);
  });

  test("version, command, family and transport values the spec does not assign are refused", () => {
    error(feed(hex(`${SIG} 11 11 000c ${"00".repeat(12)}`), 64), /version 1 in byte 13/);
    error(feed(hex(`${SIG} 31 11 000c ${"00".repeat(12)}`), 64), /version 3/);
    error(feed(hex(`${SIG} 22 11 000c ${"00".repeat(12)}`), 64), /unknown command 0x02/);
    error(feed(hex(`${SIG} 21 41 000c ${"00".repeat(12)}`), 64), /family and transport 0x41/);
    error(feed(hex(`${SIG} 21 13 000c ${"00".repeat(12)}`), 64), /family and transport 0x13/);
  });

  test("a length shorter than the family's address block is refused", () => {
    error(feed(hex(`${SIG} 21 11 000b ${"00".repeat(11)}`), 64), /length 11 is shorter than the 12-byte address block/);
    error(feed(hex(`${SIG} 21 21 000c ${"00".repeat(12)}`), 64), /shorter than the 36-byte/);
  });

  test("wrong signature: refused at the first byte that differs, even mid-signature", () => {
    const decoder = new ProxyHeaderDecoder();
    assert.equal(decoder.push(hex("0d0a0d0a00")).kind, "need-more");
    assert.equal(decoder.push(hex("0d0a51")).kind, "need-more");
    error(decoder.push(hex("56")), /wrong v2 signature/); // "QU" expected, "QV" sent
    error(feed(text("\r\n\r\nQUIT"), 1), /wrong v2 signature/);
  });

  test("oversize: refused as soon as the length is read, before any more is buffered; the limit is configurable", () => {
    const big = hex(`${SIG} 21 11 00f0`);
    error(new ProxyHeaderDecoder().push(big), /PROXY v2 header of 256 bytes exceeds the limit of 232/);
    assert.equal(PROXY_V2_DEFAULT_MAX_BYTES, 232);
    const bigger = new ProxyHeaderDecoder({ maxV2Bytes: 4096 });
    const header = hex(`${SIG} 21 11 00f0 7f000002 7f000001 3039 0050 ee 00e1 ${"61".repeat(225)}`);
    assert.equal(bigger.push(header.subarray(0, 100)).kind, "need-more");
    const result = done(bigger.push(header.subarray(100)));
    assert.equal(result.consumed, 256);
    assert.throws(() => new ProxyHeaderDecoder({ maxV2Bytes: 15 }), /maxV2Bytes must be an integer from 16 to 65551/);
  });

  test("truncated: need-more until the announced length is in; one-shot datagram decoding says truncated", () => {
    const bytes = hex(`${SIG} 21 12 000c 0a000001 0a000002 13`);
    assert.equal(feed(bytes, 1).kind, "need-more");
    error(decodeProxyHeader(bytes), /truncated PROXY header: 25 bytes/);
  });
});

describe("the decoder after its answer", () => {
  test("after done, later chunks come back whole as payload; after an error, the error again", () => {
    const decoder = new ProxyHeaderDecoder();
    done(decoder.push(text("PROXY UNKNOWN\r\n")));
    const later = decoder.push(text("more"));
    assert.equal(later.kind === "done" && Buffer.from(later.rest).toString(), "more");
    const bad = new ProxyHeaderDecoder();
    error(bad.push(text("X")), /first byte/);
    error(bad.push(text("PROXY UNKNOWN\r\n")), /first byte/);
  });
});

describe("encoders", () => {
  const v4 = { source: { address: "192.168.0.1", port: 56324 }, destination: { address: "192.168.0.11", port: 443 } };
  const v6 = { source: { address: "2001:db8::1", port: 1 }, destination: { address: "2001:DB8::2", port: 65535 } };

  test("v1 writes the spec's example line, TCP6, and the UNKNOWN short form", () => {
    assert.equal(Buffer.from(encodeProxyV1(v4)).toString(), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    assert.equal(Buffer.from(encodeProxyV1(v6)).toString(), "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
    assert.equal(Buffer.from(encodeProxyV1()).toString(), "PROXY UNKNOWN\r\n");
  });

  test("v2 writes the bytes HAProxy writes, for TCP and UDP, and LOCAL", () => {
    const tcp = { source: { address: "172.19.0.1", port: 42578 }, destination: { address: "172.19.0.3", port: 80 } };
    assert.equal(Buffer.from(encodeProxyV2(tcp)).toString("hex"), `${SIG}2111000cac130001ac130003a6520050`);
    assert.equal(Buffer.from(encodeProxyV2(tcp, "udp")).toString("hex"), `${SIG}2112000cac130001ac130003a6520050`);
    assert.equal(Buffer.from(encodeProxyV2()).toString("hex"), `${SIG}20000000`);
  });

  test("a mix of IPv4 and IPv6 is written as IPv6, the IPv4 side mapped", () => {
    const mixed = { source: { address: "10.0.0.1", port: 5 }, destination: { address: "::1", port: 6 } };
    assert.equal(Buffer.from(encodeProxyV1(mixed)).toString(), "PROXY TCP6 ::ffff:10.0.0.1 ::1 5 6\r\n");
    const decoded = done(decodeProxyHeader(encodeProxyV2(mixed)));
    assert.equal(decoded.header.command === "proxy" && decoded.header.source?.address, "::ffff:10.0.0.1");
  });

  test("what the encoders write, the decoder reads back (v1, v2 TCP, v2 UDP, IPv4 and IPv6)", () => {
    for (const addresses of [v4, v6]) {
      const six = addresses === v6;
      const expected = {
        source: { ...addresses.source, address: addresses.source.address.toLowerCase() },
        destination: { ...addresses.destination, address: addresses.destination.address.toLowerCase() },
      };
      const r1 = done(decodeProxyHeader(encodeProxyV1(addresses)));
      assert.deepEqual(r1.header, { version: 1, command: "proxy", family: six ? "tcp6" : "tcp4", ...expected });
      const r2 = done(decodeProxyHeader(encodeProxyV2(addresses)));
      assert.deepEqual(r2.header, { version: 2, command: "proxy", family: six ? "tcp6" : "tcp4", ...expected });
      const r3 = done(decodeProxyHeader(encodeProxyV2(addresses, "udp")));
      assert.deepEqual(r3.header, { version: 2, command: "proxy", family: six ? "udp6" : "udp4", ...expected });
    }
  });

  test("bad addresses and ports are refused with the field named", () => {
    const at = (address: string, port = 1) => ({ source: { address, port }, destination: v4.destination });
    assert.throws(
      () => encodeProxyV1(at("example.com")),
      /source address must be an IPv4 or IPv6 address, got "example.com"/,
    );
    assert.throws(() => encodeProxyV2(at("1")), /source address/);
    assert.throws(() => encodeProxyV2(at("fe80::1%lo")), /source address/);
    assert.throws(
      () => encodeProxyV1(at("1.2.3.4", 65536)),
      /source port must be an integer from 0 to 65535, got 65536/,
    );
    assert.throws(
      () => encodeProxyV2({ source: v4.source, destination: { address: "1.2.3.4", port: 1.5 } }),
      /destination port/,
    );
  });
});
