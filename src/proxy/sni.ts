/**
 * Reads the server name from a TLS ClientHello without terminating TLS: the bytes are only looked at,
 * and the caller forwards them unchanged. Handles a ClientHello split over several TLS records (large
 * post-quantum key shares do that) and gives up at `SNI_PEEK_LIMIT` bytes.
 *
 * Hostile input costs bounded work: nothing is allocated from a length the client declares (a
 * ClientHello that cannot fit in the peek limit is refused at once, and fragments are gathered in one
 * fixed scratch buffer), a ClientHello may span at most `MAX_RECORDS` records, and an incomplete result
 * says how many bytes must have arrived before parsing again can change the answer, so a client that
 * trickles bytes causes a bounded number of parses.
 */

/** the most bytes read from a client while looking for its ClientHello */
export const SNI_PEEK_LIMIT = 16 * 1024 + 5;

export type ClientHelloResult =
  /** more bytes are needed: nothing changes before `need` bytes have arrived */
  | { kind: "incomplete"; need: number }
  /** not a TLS handshake, or a malformed one: route as a connection without SNI */
  | { kind: "not-tls" }
  /** a complete ClientHello; `serverName` is lower-cased, absent when the client sent none */
  | { kind: "client-hello"; serverName?: string };

/** records one ClientHello may span; real ones use one to three */
const MAX_RECORDS = 8;
/** where fragments of a ClientHello spanning records are gathered; used synchronously, never kept */
const scratch = new Uint8Array(SNI_PEEK_LIMIT);

function incomplete(need: number): ClientHelloResult {
  return { kind: "incomplete", need };
}
const NOT_TLS: ClientHelloResult = { kind: "not-tls" };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;

/** Parses `bytes[0, length)`, the first bytes a client sent. */
export function parseClientHello(bytes: Uint8Array, length: number = bytes.byteLength): ClientHelloResult {
  if (length < 1) return incomplete(1);
  if (bytes[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  if (length < 5) return incomplete(5);
  if (bytes[1] !== 0x03) return NOT_TLS;

  // Gather the handshake message from consecutive handshake records.
  const first = recordLength(bytes, 0);
  if (first === 0 || first > 16384 + 256) return NOT_TLS;
  let handshake: Uint8Array;
  if (length < 5 + 4) return incomplete(9);
  if (bytes[5] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  const messageLength = (bytes[6]! << 16) | (bytes[7]! << 8) | bytes[8]!;
  const needed = 4 + messageLength;
  // Even one record header per fragment would not let it fit in what the peek reads: never complete.
  if (5 + needed > SNI_PEEK_LIMIT) return NOT_TLS;
  if (needed <= first) {
    if (length < 5 + needed) return incomplete(5 + needed);
    handshake = bytes.subarray(5, 5 + needed);
  } else {
    // Rare: the ClientHello spans records. Gather the fragments in the fixed scratch buffer.
    let filled = 0;
    let offset = 0;
    for (let records = 0; filled < needed; records++) {
      if (records === MAX_RECORDS) return NOT_TLS;
      if (length < offset + 5) return incomplete(offset + 5);
      if (bytes[offset] !== RECORD_HANDSHAKE) return NOT_TLS;
      const len = recordLength(bytes, offset);
      if (len === 0) return NOT_TLS;
      const take = Math.min(len, needed - filled);
      if (offset + 5 + take > SNI_PEEK_LIMIT) return NOT_TLS;
      if (length < offset + 5 + take) return incomplete(offset + 5 + take);
      scratch.set(bytes.subarray(offset + 5, offset + 5 + take), filled);
      filled += take;
      offset += 5 + len;
    }
    handshake = scratch.subarray(0, needed);
  }
  return readServerName(handshake);
}

function recordLength(bytes: Uint8Array, offset: number): number {
  return (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
}

function readServerName(m: Uint8Array): ClientHelloResult {
  const end = m.byteLength;
  // handshake header (4) + client version (2) + random (32)
  let p = 4 + 2 + 32;
  if (p + 1 > end) return NOT_TLS;
  p += 1 + m[p]!; // session id
  if (p + 2 > end) return NOT_TLS;
  p += 2 + ((m[p]! << 8) | m[p + 1]!); // cipher suites
  if (p + 1 > end) return NOT_TLS;
  p += 1 + m[p]!; // compression methods
  if (p === end) return { kind: "client-hello" };
  if (p + 2 > end) return NOT_TLS;
  const extensionsEnd = p + 2 + ((m[p]! << 8) | m[p + 1]!);
  if (extensionsEnd > end) return NOT_TLS;
  p += 2;
  while (p + 4 <= extensionsEnd) {
    const type = (m[p]! << 8) | m[p + 1]!;
    const len = (m[p + 2]! << 8) | m[p + 3]!;
    p += 4;
    if (p + len > extensionsEnd) return NOT_TLS;
    if (type === EXTENSION_SERVER_NAME) {
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + ((m[p]! << 8) | m[p + 1]!));
      while (q + 3 <= listEnd) {
        const nameType = m[q]!;
        const nameLength = (m[q + 1]! << 8) | m[q + 2]!;
        q += 3;
        if (q + nameLength > listEnd) return NOT_TLS;
        if (nameType === NAME_TYPE_HOST) return { kind: "client-hello", serverName: asciiLower(m, q, nameLength) };
        q += nameLength;
      }
      return { kind: "client-hello" };
    }
    p += len;
  }
  return { kind: "client-hello" };
}

function asciiLower(m: Uint8Array, start: number, length: number): string {
  let s = "";
  for (let i = start; i < start + length; i++) {
    const c = m[i]!;
    s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  }
  return s;
}
