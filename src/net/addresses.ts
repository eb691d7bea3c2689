/**
 * Address text rules every layer shares (admin API, declarative file, data plane, runtimes): how a
 * `host:port` is written and read, and how an address or CIDR is normalised. A leaf module: it imports
 * nothing from the rest of src/, so src/proxy and runtime/ may use it as freely as src/config.
 */
import ipaddr from "ipaddr.js";

/** `host:port`, IPv6 in brackets (`[::1]:9000`), as logs, metric labels and node names show an address */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `host:port` or `[v6]:port` → its parts (brackets removed), or undefined when the text is neither */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/**
 * Standard address text only: IPv4 as four decimal octets without leading zeros (`10.0.0.1`), IPv6 as
 * RFC 4291 text without a zone (any embedded IPv4 part written the same way). The inet_aton forms that
 * ipaddr.js and the OS resolver also accept (`127.0.0.010` read as octal, `127.8`, `1.2.3`, `0x7f.1`)
 * are refused, because two readers of one such text disagree on the address it names.
 */
export function isStandardAddress(text: string): boolean {
  if (text.includes(":")) {
    if (text.includes("%") || !ipaddr.IPv6.isValid(text)) return false;
    const v4Tail = /[:]([^:]*\.[^:]*)$/.exec(text);
    return v4Tail === null || ipaddr.IPv4.isValidFourPartDecimal(v4Tail[1]!);
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** a standard address, or one with a `/bits` prefix written in decimal without leading zeros */
export function isStandardCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash === -1) return isStandardAddress(text);
  const address = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(bits) || !isStandardAddress(address)) return false;
  return Number(bits) <= (address.includes(":") ? 128 : 32);
}

/**
 * True when a host name would be read as an IPv4 address by a resolver (WHATWG URL's rule: its last
 * label is a number, decimal or `0x` hex), so it has to pass as a standard address instead.
 */
export function looksLikeIPv4(host: string): boolean {
  const last = host.endsWith(".") ? host.slice(0, -1).split(".").pop()! : host.split(".").pop()!;
  return /^(\d+|0x[0-9a-f]*)$/i.test(last);
}

export interface Cidr {
  readonly range: ipaddr.IPv4 | ipaddr.IPv6;
  readonly bits: number;
}

/**
 * An address (`10.0.0.1`, a /32 or /128) or CIDR, with an IPv4-mapped IPv6 range folded into IPv4
 * (`::ffff:10.0.0.0/104` is `10.0.0.0/8`), because clients are matched as IPv4 after the same folding.
 * Throws on text that is neither, and on non-standard text (see `isStandardAddress`).
 */
export function parseCidr(text: string): Cidr {
  if (!isStandardCidr(text)) throw new Error(`not a standard IPv4/IPv6 address or CIDR: ${text}`);
  let range: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  if (text.includes("/")) [range, bits] = ipaddr.parseCIDR(text);
  else {
    range = ipaddr.parse(text);
    bits = range.kind() === "ipv4" ? 32 : 128;
  }
  if (range.kind() === "ipv6" && (range as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return { range: (range as ipaddr.IPv6).toIPv4Address(), bits: bits - 96 };
  }
  return { range, bits };
}

/** the canonical text of an address or CIDR: its network address and prefix (`10.1.2.3/8` is `10.0.0.0/8`) */
export function normaliseCidr(text: string): string {
  const { range, bits } = parseCidr(text);
  const network =
    range.kind() === "ipv4"
      ? ipaddr.IPv4.networkAddressFromCIDR(`${range.toString()}/${bits}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${range.toString()}/${bits}`);
  return `${network.toNormalizedString()}/${bits}`;
}
