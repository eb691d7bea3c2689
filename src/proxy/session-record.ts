/** The `StreamSession` a plugin sees, and the access-log line written when it ends. */
import type { Logger } from "pino";
import { formatHostPort } from "../net/addresses.ts";
import type { AddressInfo, TlsSessionInfo } from "./adapter.ts";
import type { ClientBytes, StreamSession } from "./plugins/types.ts";
import type { RouteEntry } from "./router.ts";

/** what a TCP session reads its local address from, on first use */
interface LocalAddressSource {
  readonly local: AddressInfo;
}

export class SessionRecord implements StreamSession {
  readonly route: { readonly id: string; readonly name: string };
  readonly service: { id: string; name: string };
  readonly startedAt: number;
  node?: string;
  /** the last node a connect was tried to when none answered (APISIX's `node` label shows it) */
  triedNode?: string;
  connectMs?: number;
  bytesFromClient = 0;
  bytesToClient = 0;
  code = 200;
  closeReason?: string;
  endedAt?: number;
  vars?: Map<string, string>;
  clientBytes?: ClientBytes;
  /** the load balancer that sent a PROXY protocol header naming `client` */
  proxy?: AddressInfo;
  /** what the TLS handshake with the client settled (terminating routes) */
  tls?: TlsSessionInfo;
  private serverInfo: AddressInfo | undefined;
  private readonly serverSource: LocalAddressSource | undefined;

  /**
   * `server`: the address, or (TCP) the accepted connection, whose `local` is a getsockname that only
   * routes with `server_addr`, plugins, metrics and the access log need: read when one of them asks.
   */
  constructor(
    readonly protocol: "tcp" | "udp",
    readonly client: AddressInfo,
    server: AddressInfo | LocalAddressSource,
    route: RouteEntry,
    readonly sni: string | undefined,
    startedAt: number,
  ) {
    if ("local" in server) this.serverSource = server;
    else this.serverInfo = server;
    this.route = route.ref;
    this.service = route.service;
    this.startedAt = startedAt;
  }

  get server(): AddressInfo {
    this.serverInfo ??= this.serverSource!.local;
    return this.serverInfo;
  }

  /** reads the local address now, while the connection is open, for what reads it after the close */
  keepServerAddress(): void {
    this.serverInfo ??= this.serverSource!.local;
  }
}

function hostPort(a: AddressInfo): string {
  return formatHostPort(a.address, a.port);
}

/**
 * One line per closed connection or UDP session. Below `info` (`--log-level warn`) nothing is built: the
 * record's fields and address strings were made for every connection only to be dropped by the logger.
 */
export function writeAccessLog(logger: Logger, r: SessionRecord): void {
  if (!logger.isLevelEnabled("info")) return;
  logger.info(
    {
      access: r.protocol,
      route: r.route.name,
      route_id: r.route.id,
      service: r.service.name,
      service_id: r.service.id,
      client: hostPort(r.client),
      server: hostPort(r.server),
      proxy: r.proxy && hostPort(r.proxy),
      sni: r.sni,
      tls_version: r.tls?.protocol,
      tls_cipher: r.tls?.cipher,
      node: r.node,
      connect_ms: r.connectMs,
      bytes_from_client: r.bytesFromClient,
      bytes_to_client: r.bytesToClient,
      duration_ms: (r.endedAt ?? Date.now()) - r.startedAt,
      close_reason: r.closeReason,
      code: r.code,
      // variables plugins set (mqtt-proxy's mqtt_client_id): which client a broker connection belongs to
      vars: r.vars && Object.fromEntries(r.vars),
    },
    "stream session closed",
  );
}
