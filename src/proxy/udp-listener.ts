/**
 * A UDP listener and its sessions: one session per client address:port, each with its own upstream
 * socket (so replies find their way back to the right client), the node chosen by the balancer when the
 * session starts, an idle timeout, and a bound on the number of sessions — at the bound the least
 * recently active session is closed to make room (counted as evicted). When the process's connection
 * budget is full, a new session takes the place of the listener's least recently active session only if
 * that one has been quiet since the last sweep; otherwise the datagram is dropped (counted as refused),
 * so a flood of new client ports cannot displace sessions that are still talking.
 *
 * With `upstream.udp.responses` (nginx `proxy_responses`) a session ends once the upstream has sent that
 * many datagrams back: a DNS query's socket is released with its answer, not after the idle timeout.
 *
 * Recency is kept coarsely: a session moves to the back of the map at most once per sweep, so the map's
 * first entry is the least recently active session within one sweep interval, with no per-datagram work
 * beyond a map lookup. A datagram from a client finds its session through `byPeer` (address, then port)
 * without building a key string: only a new session builds one.
 */
import type { UpstreamNode } from "../config/schema.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { AddressInfo, UdpSocket } from "./adapter.ts";
import type { ConfigGeneration } from "./config-generation.ts";
import { type PrereadProgress, runLogs, runPrereads } from "./preread.ts";
import { decodeProxyHeader } from "./proxy-protocol.ts";
import { clientNamedBy } from "./proxy-protocol-session.ts";
import type { PortRoutes, RouteEntry } from "./router.ts";
import type { SessionGateway, SweptSession } from "./session-gateway.ts";
import { SessionRecord, writeAccessLog } from "./session-record.ts";

/** datagrams kept per session while its upstream socket is being opened */
const MAX_PENDING_DATAGRAMS = 64;

export interface UdpListenerGateway extends SessionGateway {
  /** the generation that routes new sessions and its route table for this port; undefined when none routes */
  routesOn(protocol: "tcp" | "udp", port: number): { generation: ConfigGeneration; table: PortRoutes } | undefined;
  /** the applied config; a new object after every apply */
  readonly currentGeneration: ConfigGeneration | undefined;
  /** sessions per listener */
  readonly udpMaxSessions: number;
  /** bumped by every sweep: the coarse clock of session recency */
  readonly sweepEpoch: number;
  readonly metrics: GatewayMetrics;
  /** whether the process's connection budget has room for one more session */
  hasRoom(): boolean;
  refusedAtLimit(protocol: "udp"): void;
}

export class UdpListener {
  socket: UdpSocket | undefined;
  /** every session by key, least recently active first (within one sweep): the eviction order */
  readonly sessions = new Map<string, UdpProxySession>();
  /** the sessions of clients that send directly (no PROXY header), by address and port */
  private readonly byPeer = new Map<string, Map<number, UdpProxySession>>();

  constructor(
    readonly gateway: UdpListenerGateway,
    readonly port: number,
  ) {}

  /** the generation whose PROXY setting for this port `proxyProtocol` holds */
  private proxyProtocolOf: ConfigGeneration | undefined;
  /** whether datagrams on this port carry a PROXY header, in `proxyProtocolOf` */
  private proxyProtocol = false;

  /** the datagram handler to bind the socket with */
  readonly onMessage = (data: Uint8Array, from: AddressInfo): void => {
    // A port's PROXY setting can change with any applied config: it is read again once per generation,
    // not looked up (a key string and a result object) per datagram.
    const generation = this.gateway.currentGeneration;
    if (generation !== this.proxyProtocolOf) {
      this.proxyProtocolOf = generation;
      this.proxyProtocol = generation?.routesOn("udp", this.port)?.proxyProtocol === true;
    }
    if (this.proxyProtocol) {
      const routing = this.gateway.routesOn("udp", this.port);
      if (routing !== undefined) {
        this.fromProxy(data, from, routing.generation);
        return;
      }
    }
    const session = this.byPeer.get(from.address)?.get(from.port);
    if (session !== undefined) {
      this.touch(session);
      session.fromClient(data);
      return;
    }
    this.startSession(`${from.address}|${from.port}`, data, from, from);
  };

  /** a datagram from a load balancer: its header names the client; replies go back to the balancer */
  private fromProxy(data: Uint8Array, peer: AddressInfo, generation: ConfigGeneration): void {
    const refuse = (reason: string, detail: string) => {
      this.gateway.counters.proxyProtocolRefused++;
      this.gateway.metrics.proxyProtocolRefused.inc({ reason });
      this.gateway.logger.debug({ client: peer.address, port: this.port, reason: detail }, "PROXY datagram dropped");
    };
    if (!generation.realIpFrom.contains(peer.address)) {
      refuse("untrusted", `PROXY protocol header from ${peer.address}, outside real_ip_from`);
      return;
    }
    const decoded = decodeProxyHeader(data);
    if (decoded.kind !== "done") {
      refuse("malformed", decoded.kind === "error" ? decoded.reason : "truncated");
      return;
    }
    const client = clientNamedBy(decoded.header, peer);
    this.deliver(`${peer.address}|${peer.port}|${client.address}|${client.port}`, decoded.rest, client, peer);
  }

  private deliver(key: string, data: Uint8Array, from: AddressInfo, replyTo: AddressInfo): void {
    const session = this.sessions.get(key);
    if (session !== undefined) {
      this.touch(session);
      session.fromClient(data);
      return;
    }
    this.startSession(key, data, from, replyTo);
  }

  /** moves `session` to the back of the eviction order, at most once per sweep */
  private touch(session: UdpProxySession): void {
    const epoch = this.gateway.sweepEpoch;
    if (session.epoch === epoch) return;
    session.epoch = epoch;
    this.sessions.delete(session.key);
    this.sessions.set(session.key, session);
  }

  /** forgets `session` (it ended) */
  removeSession(session: UdpProxySession): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    if (session.replyTo !== session.client) return;
    const ports = this.byPeer.get(session.client.address);
    if (ports?.get(session.client.port) !== session) return;
    ports.delete(session.client.port);
    if (ports.size === 0) this.byPeer.delete(session.client.address);
  }

  private startSession(key: string, data: Uint8Array, from: AddressInfo, replyTo: AddressInfo): void {
    const socket = this.socket;
    const routing = socket && this.gateway.routesOn("udp", this.port);
    if (!routing) {
      if (socket) this.gateway.noRoute("udp", socket.address);
      else this.gateway.counters.udpNoRoute++;
      return;
    }
    const { generation, table } = routing;
    const route = table.match(from.address, socket.address.address, undefined);
    if (!route) {
      this.gateway.noRoute("udp", socket.address);
      return;
    }
    const gateway = this.gateway;
    if (this.sessions.size >= gateway.udpMaxSessions) this.evictOldest("listener_limit");
    if (!gateway.hasRoom()) {
      const oldest = this.sessions.values().next().value;
      if (oldest === undefined || oldest.epoch === gateway.sweepEpoch) {
        gateway.refusedAtLimit("udp");
        return;
      }
      this.evictOldest("connection_limit");
    }
    const client: AddressInfo = { address: from.address, port: from.port, family: from.family };
    const direct = from === replyTo;
    const session = new UdpProxySession(
      this,
      key,
      generation,
      route,
      client,
      socket.address,
      direct ? client : replyTo,
    );
    this.sessions.set(key, session);
    if (direct) {
      const ports = this.byPeer.get(client.address);
      if (ports === undefined) this.byPeer.set(client.address, new Map([[client.port, session]]));
      else ports.set(client.port, session);
    }
    this.gateway.counters.udpSessions++;
    session.begin(data);
  }

  private evictOldest(reason: "listener_limit" | "connection_limit"): void {
    const oldest = this.sessions.values().next().value;
    if (!oldest) return;
    this.gateway.counters.udpSessionsEvicted++;
    this.gateway.metrics.udpSessionsEvicted.inc({ reason });
    oldest.abort("evicted");
  }

  /** close every session now (listener closing for good) */
  closeAll(reason: string): void {
    for (const session of [...this.sessions.values()]) session.abort(reason);
  }
}

const SETUP = 0;
const ACTIVE = 1;
const DONE = 2;

export class UdpProxySession implements SweptSession {
  readonly protocol = "udp";
  epoch = 0;
  drainAt = 0;
  private state = SETUP;
  private readonly record: SessionRecord;
  private upstream: UdpSocket | undefined;
  private node: UpstreamNode | undefined;
  private pending: Uint8Array[] | undefined;
  private prereadRan = 0;
  private lastBytes = 0;
  private lastActiveAt = 0;
  private responses = 0;
  private reason: string | undefined;

  constructor(
    private readonly listener: UdpListener,
    readonly key: string,
    private readonly generation: ConfigGeneration,
    private readonly route: RouteEntry,
    readonly client: AddressInfo,
    server: AddressInfo,
    /**
     * where replies go: the client (the same object when it sent directly), or the load balancer that
     * sent its datagrams with a PROXY header
     */
    readonly replyTo: AddressInfo,
  ) {
    this.record = new SessionRecord("udp", client, server, route, undefined, Date.now());
    this.epoch = listener.gateway.sweepEpoch;
  }

  get routeId(): string {
    return this.route.id;
  }

  begin(first: Uint8Array): void {
    this.generation.acquire();
    this.listener.gateway.sessionStarted(this);
    this.route.metrics.sessionStarted(this.record);
    this.queue(first);
    const progress = runPrereads(this.route.plugins, this.record, () => this.state === DONE);
    if (progress instanceof Promise) progress.then((p) => this.afterPreread(p));
    else this.afterPreread(progress);
  }

  fromClient(data: Uint8Array): void {
    if (this.state === ACTIVE) {
      this.record.bytesFromClient += data.byteLength;
      this.upstream!.send(data, this.node!.port, this.node!.host);
    } else if (this.state === SETUP) this.queue(data);
  }

  private queue(data: Uint8Array): void {
    if (!this.pending) this.pending = [];
    const pending = this.pending;
    if (pending.length >= MAX_PENDING_DATAGRAMS) {
      this.listener.gateway.counters.udpDroppedPending++;
      return;
    }
    const copy = new Uint8Array(data.byteLength);
    copy.set(data);
    pending.push(copy);
  }

  private afterPreread(progress: PrereadProgress): void {
    this.prereadRan = progress.ran;
    if (this.state === DONE) return;
    const gateway = this.listener.gateway;
    if (progress.error) {
      gateway.logger.error({ route: this.route.id, reason: progress.error.message }, "plugin preread failed");
      this.record.code = 500;
      this.finish("plugin_error");
      return;
    }
    if (progress.reject !== undefined) {
      this.record.code = progress.reject;
      gateway.counters.rejected++;
      this.finish(progress.rejectReason ?? "rejected");
      return;
    }
    const pool = this.route.pool;
    const node = pool.pick(
      {
        remote_addr: this.record.client.address,
        remote_port: this.record.client.port,
        server_addr: this.record.server.address,
        server_port: this.record.server.port,
        vars: this.record.vars,
      },
      undefined,
    );
    if (!node) {
      this.record.code = 502;
      gateway.counters.upstreamFailures++;
      this.finish("no_upstream");
      return;
    }
    this.node = node;
    this.record.node = pool.name(node);
    const wildcard = node.host.includes(":") ? "::" : "0.0.0.0";
    gateway.adapter
      .bindUdp(
        { host: wildcard, port: 0 },
        (data) => this.fromUpstream(data),
        (error) => this.upstreamFailed(error),
      )
      .then(
        (socket) => {
          if (this.state === DONE) {
            socket.close();
            return;
          }
          this.upstream = socket;
          this.state = ACTIVE;
          const pending = this.pending;
          this.pending = undefined;
          if (pending) for (const d of pending) this.fromClient(d);
        },
        (error: Error) => {
          gateway.logger.error({ route: this.route.id, reason: error.message }, "udp upstream socket failed");
          this.record.code = 502;
          this.finish("error");
        },
      );
  }

  /**
   * The node refused a datagram (ICMP port unreachable, on runtimes that report it): the node is down,
   * as a refused TCP connect says. Passive health hears of it and the session ends, so the client's next
   * datagram starts a new session on a node the balancer still trusts.
   */
  private upstreamFailed(error: Error & { code?: string }): void {
    if (this.state === DONE || this.node === undefined) return;
    this.route.pool.failed(this.node, error.code === "ETIMEDOUT");
    this.listener.gateway.counters.upstreamFailures++;
    this.record.code = 502;
    this.finish("upstream_error");
  }

  private fromUpstream(data: Uint8Array): void {
    if (this.state !== ACTIVE) return;
    this.record.bytesToClient += data.byteLength;
    this.listener.socket?.send(data, this.replyTo.port, this.replyTo.address);
    const expected = this.route.pool.udpResponses;
    if (expected !== undefined && ++this.responses >= expected) this.finish("responses_received");
  }

  sweep(now: number): void {
    if (this.state === DONE) return;
    if (this.drainAt !== 0 && now >= this.drainAt) {
      this.abort("drained");
      return;
    }
    const total = this.record.bytesFromClient + this.record.bytesToClient;
    if (total !== this.lastBytes || this.lastActiveAt === 0) {
      this.lastBytes = total;
      this.lastActiveAt = now;
    } else if (now - this.lastActiveAt >= this.route.pool.idleTimeoutMs) {
      this.abort("idle_timeout");
    }
  }

  abort(reason: string): void {
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.state === DONE) return;
    this.state = DONE;
    this.reason ??= reason;
    this.pending = undefined;
    this.upstream?.close();
    this.listener.removeSession(this);
    const record = this.record;
    record.endedAt = Date.now();
    record.closeReason = this.reason;
    if (this.node) this.route.pool.release(this.node);
    const gateway = this.listener.gateway;
    runLogs(this.route.plugins, record, this.prereadRan, (plugin, error) =>
      gateway.logger.error({ plugin, reason: error.message }, "plugin log failed"),
    );
    this.route.metrics.sessionEnded(record);
    writeAccessLog(gateway.logger, record);
    this.generation.release();
    gateway.sessionEnded(this);
  }
}
