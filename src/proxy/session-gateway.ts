/** What a TCP connection or UDP session needs from the gateway that runs it. */
import type { Logger } from "pino";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { AddressInfo, SocketAdapter } from "./adapter.ts";

export interface ProxyCounters {
  /** TCP connections closed because no route matched */
  tcpNoRoute: number;
  /** UDP datagrams dropped because no route matched */
  udpNoRoute: number;
  /** UDP sessions closed to make room under the session bound */
  udpSessionsEvicted: number;
  /** TCP connections closed and UDP sessions dropped because the process's connection budget was full */
  refusedAtLimit: number;
  /** UDP datagrams dropped while a session was being set up and its queue was full */
  udpDroppedPending: number;
  /** connections / sessions a plugin rejected */
  rejected: number;
  /** connections / sessions that found no upstream node that accepted them */
  upstreamFailures: number;
  /** TCP connections accepted / UDP sessions created since start */
  tcpAccepted: number;
  udpSessions: number;
  /** TLS connections closed on a terminating route: handshake failed, client certificate refused */
  tlsRefused: number;
  /** connections / datagrams refused at the PROXY protocol header (untrusted source, malformed, missing) */
  proxyProtocolRefused: number;
}

export function emptyCounters(): ProxyCounters {
  return {
    tcpNoRoute: 0,
    udpNoRoute: 0,
    udpSessionsEvicted: 0,
    udpDroppedPending: 0,
    refusedAtLimit: 0,
    rejected: 0,
    upstreamFailures: 0,
    tcpAccepted: 0,
    udpSessions: 0,
    tlsRefused: 0,
    proxyProtocolRefused: 0,
  };
}

/** A live connection or session as the gateway's sweep and drain see it. */
export interface SweptSession {
  readonly protocol: "tcp" | "udp";
  /** idle and drain checks, every sweep; `now` is the sweep's clock */
  sweep(now: number): void;
  /** close now with this reason (`drained`, `stopped`) */
  abort(reason: string): void;
  /** set to a time to close the session then (its route was removed) */
  drainAt: number;
  readonly routeId: string | undefined;
}

export interface SessionGateway {
  readonly adapter: SocketAdapter;
  readonly logger: Logger;
  /** the most time a client gets to send its TLS ClientHello, or the first message a plugin reads (MQTT CONNECT) */
  readonly sniTimeoutMs: number;
  readonly counters: ProxyCounters;
  readonly metrics: GatewayMetrics;
  /** a TCP connection closed or a UDP datagram dropped because no route matched (counted in status and metrics) */
  noRoute(protocol: "tcp" | "udp", local: AddressInfo): void;
  sessionStarted(session: SweptSession): void;
  sessionEnded(session: SweptSession): void;
}
