/** The TLS client settings for a node of a `scheme: "tls"` upstream, for proxied connections and health checks. */
import ipaddr from "ipaddr.js";
import type { CompiledUpstreamTls } from "../config/types.ts";
import type { TlsClientOptions } from "./adapter.ts";

/**
 * `tls.sni` when set, else the client's own SNI (forwarded as nginx's `proxy_ssl_server_name on`), else
 * the node's host name; never an IP address (SNI carries names only).
 */
export function upstreamTlsOptions(
  tls: CompiledUpstreamTls,
  host: string,
  clientSni: string | undefined,
): TlsClientOptions {
  const name = tls.sni ?? clientSni ?? host;
  return {
    servername: ipaddr.isValid(name) ? undefined : name,
    verify: tls.verify,
    ca: tls.ca,
    cert: tls.client_cert,
    key: tls.client_key,
  };
}
