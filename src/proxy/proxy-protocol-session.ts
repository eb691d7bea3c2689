/**
 * PROXY protocol on the pipeline's side: which sources a header is trusted from (the group's
 * `real_ip_from`, nginx's `set_real_ip_from`), the client address a header names, and the header a
 * session writes to an upstream with `proxy_protocol: "v1" | "v2"`.
 */
import ipaddr from "ipaddr.js";
import { type Cidr, parseCidr } from "../net/addresses.ts";
import { type AddressInfo, addressFamily, normaliseAddress } from "./adapter.ts";
import { encodeProxyV1, encodeProxyV2, type ProxyHeader } from "./proxy-protocol.ts";

/** The most time a connection gets to send its whole PROXY header. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

export class TrustedSources {
  private readonly ranges: readonly Cidr[];

  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map((c) => parseCidr(c));
  }

  contains(address: string): boolean {
    if (this.ranges.length === 0 || !ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address);
    return this.ranges.some((r) => r.range.kind() === parsed.kind() && parsed.match(r.range, r.bits));
  }
}

/** The client a header names; a LOCAL header (the proxy's own health check) or UNKNOWN family keeps `own`. */
export function clientNamedBy(header: ProxyHeader, own: AddressInfo): AddressInfo {
  if (header.command !== "proxy" || header.source === undefined) return own;
  const address = normaliseAddress(header.source.address);
  return { address, port: header.source.port, family: addressFamily(address) };
}

/** The header to write to an upstream: the real client, and the address it connected to. */
export function headerForUpstream(version: "v1" | "v2", client: AddressInfo, server: AddressInfo): Uint8Array {
  const addresses = {
    source: { address: client.address, port: client.port },
    destination: { address: server.address, port: server.port },
  };
  // one family on both sides: an IPv4 client seen on an IPv6 listener is sent as IPv4-mapped
  if (client.family !== server.family) {
    if (client.family === "IPv4") addresses.source.address = `::ffff:${client.address}`;
    else addresses.destination.address = `::ffff:${server.address}`;
  }
  return version === "v1" ? encodeProxyV1(addresses) : encodeProxyV2(addresses);
}
