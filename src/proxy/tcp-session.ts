/**
 * One proxied TCP connection: (SNI peek) → route → plugins' preread → balancer pick and connect, with
 * retries on other nodes → bridge → plugins' log and the access log.
 *
 * The bridge is the hot path: a chunk from one side is written straight to the other; when `write`
 * returns false the source is paused until the sink's `onDrain`, so at most one high-water mark plus
 * one chunk sits in the gateway per direction. No timer, promise or allocation per chunk: idle time is
 * found by the gateway's coarse sweep comparing byte counters between sweeps.
 */
import type { UpstreamNode } from "../config/schema.ts";
import type { AddressInfo, TcpConnection, TcpHandlers } from "./adapter.ts";
import type { BalanceContext } from "./balancer/types.ts";
import type { ConfigGeneration } from "./config-generation.ts";
import type { FirstBytesResult } from "./first-bytes.ts";
import type { ClientBytes, FirstBytesOutcome } from "./plugins/types.ts";
import { type PrereadProgress, runLogs, runPrereads } from "./preread.ts";
import { ProxyHeaderDecoder } from "./proxy-protocol.ts";
import { clientNamedBy, headerForUpstream, PROXY_HEADER_TIMEOUT_MS } from "./proxy-protocol-session.ts";
import type { PortRoutes, RouteEntry } from "./router.ts";
import type { SessionGateway, SweptSession } from "./session-gateway.ts";
import { SessionRecord, writeAccessLog } from "./session-record.ts";
import { parseClientHello, SNI_PEEK_LIMIT } from "./sni.ts";
import { timerDelay } from "./timer-delay.ts";
import { isRefusal, type TlsRefusal, terminateTls } from "./tls-termination.ts";
import { upstreamTlsOptions } from "./upstream-tls.ts";

const PEEK = 0;
const SETUP = 1;
const BRIDGE = 2;
const CLOSING = 3;
const DONE = 4;
/** waiting for the PROXY protocol header, before anything else */
const PROXY_HEADER = 5;

const DISCARD: TcpHandlers = {
  onData() {},
  onEnd() {},
  onDrain() {},
  onClose() {},
};

/** a route without plugins: no preread ran, nothing rejected (shared, never written) */
const NO_PREREAD: Readonly<PrereadProgress> = { ran: 0 };

const FIRST_BYTES_TIMEOUT: FirstBytesOutcome<object> = { kind: "timeout" };
const FIRST_BYTES_CLOSED: FirstBytesOutcome<object> = { kind: "closed" };

/** a plugin reading the client's first bytes during preread */
interface FirstBytesRead {
  reader: (chunk: Uint8Array) => FirstBytesResult<object>;
  resolve: (outcome: FirstBytesOutcome<object>) => void;
  timer: ReturnType<typeof setTimeout>;
}

function errorCode(error: Error | undefined): string | undefined {
  return (error as (Error & { code?: string }) | undefined)?.code;
}

function copyOf(chunk: Uint8Array): Uint8Array {
  const copy = new Uint8Array(chunk.byteLength);
  copy.set(chunk);
  return copy;
}

/** Takes an accepted connection on a port whose routes are `table`. */
export function acceptTcp(
  gateway: SessionGateway,
  generation: ConfigGeneration,
  table: PortRoutes,
  client: TcpConnection,
): void {
  gateway.counters.tcpAccepted++;
  const session = new TcpProxySession(gateway, generation, table, client);
  session.begin();
}

/**
 * What a hash balancer may key on. Read on demand: the local address is a getsockname, and only a
 * `chash` on `server_addr` / `server_port` asks for it.
 */
class SessionFacts implements BalanceContext {
  constructor(private readonly record: SessionRecord) {}

  get remote_addr(): string {
    return this.record.client.address;
  }

  get remote_port(): number {
    return this.record.client.port;
  }

  get server_addr(): string {
    return this.record.server.address;
  }

  get server_port(): number {
    return this.record.server.port;
  }

  get sni(): string | undefined {
    return this.record.sni;
  }

  get vars(): ReadonlyMap<string, string> | undefined {
    return this.record.vars;
  }
}

class UpstreamSide implements TcpHandlers {
  constructor(private readonly s: TcpProxySession) {}

  onData(chunk: Uint8Array): void {
    const s = this.s;
    s.record!.bytesToClient += chunk.byteLength;
    if (!s.client.write(chunk)) s.upstream!.pause();
  }

  onEnd(): void {
    const s = this.s;
    s.upstreamEnded = true;
    s.endReason ??= "upstream_closed";
    s.client.end();
  }

  onDrain(): void {
    this.s.client.resume();
  }

  onClose(error?: Error): void {
    this.s.upstreamGone(error);
  }
}

export class TcpProxySession implements TcpHandlers, SweptSession, ClientBytes {
  readonly protocol = "tcp";
  phase = PEEK;
  route: RouteEntry | undefined;
  record: SessionRecord | undefined;
  upstream: TcpConnection | undefined;
  upstreamEnded = false;
  endReason: string | undefined;
  drainAt = 0;
  private forcedReason: string | undefined;
  private clientEnded = false;
  private clientClosed = false;
  private upstreamClosed = false;
  private node: UpstreamNode | undefined;
  private pending: Uint8Array[] | undefined;
  private peekBuffer: Uint8Array | undefined;
  private peekLength = 0;
  /** bytes that must have arrived before the ClientHello parse can give a different answer */
  private peekNeed = 0;
  private peekTimer: ReturnType<typeof setTimeout> | undefined;
  private firstBytes: FirstBytesRead | undefined;
  private prereadRan = 0;
  private lastBytes = 0;
  private lastActiveAt = 0;
  private readonly acceptedAt = Date.now();
  /** the client: the peer, or the one a PROXY protocol header names */
  private remote: AddressInfo;
  /** the peer that sent a PROXY protocol header (a load balancer) */
  private proxyPeer: AddressInfo | undefined;
  private header: ProxyHeaderDecoder | undefined;

  constructor(
    private readonly gateway: SessionGateway,
    private readonly generation: ConfigGeneration,
    private readonly table: PortRoutes,
    /** the accepted connection, replaced by its decrypted side once TLS is terminated */
    public client: TcpConnection,
  ) {
    this.remote = client.remote;
  }

  get routeId(): string | undefined {
    return this.route?.id;
  }

  begin(): void {
    const client = this.client;
    this.generation.acquire();
    this.gateway.sessionStarted(this);
    if (this.table.proxyProtocol && !this.expectProxyHeader()) return;
    client.setHandlers(this);
    // closed during setHandlers' replay, or the PROXY header path goes on from there
    if (this.phase !== PEEK || this.header) return;
    this.startRouting(undefined);
  }

  /** `rest`: bytes that came after a PROXY header, valid only during the call */
  private startRouting(rest: Uint8Array | undefined): void {
    const client = this.client;
    // `client.local` is a getsockname: asked only when a route could need it
    if (this.table.hasSniRoutes && this.table.wantsSni(this.remote.address, client.local.address)) {
      this.peekTimer = setTimeout(() => this.routeWithSni(undefined), timerDelay(this.gateway.sniTimeoutMs));
      if (rest !== undefined && rest.byteLength > 0) this.peek(rest);
      return;
    }
    // routeWithSni pauses the client; pausing here too was a second call per connection
    if (rest !== undefined && rest.byteLength > 0) this.pending = [copyOf(rest)];
    this.routeWithSni(undefined);
  }

  /** false when the peer may not send a PROXY header (not in `real_ip_from`): it is closed */
  private expectProxyHeader(): boolean {
    const peer = this.client.remote.address;
    if (!this.generation.realIpFrom.contains(peer)) {
      this.refuseProxyHeader("untrusted", `PROXY protocol header from ${peer}, outside real_ip_from`);
      return false;
    }
    this.phase = PROXY_HEADER;
    this.header = new ProxyHeaderDecoder();
    this.peekTimer = setTimeout(
      () => this.refuseProxyHeader("timeout", `no PROXY protocol header within ${PROXY_HEADER_TIMEOUT_MS} ms`),
      PROXY_HEADER_TIMEOUT_MS,
    );
    return true;
  }

  private readProxyHeader(chunk: Uint8Array): void {
    const result = this.header!.push(chunk);
    if (result.kind === "need-more") return;
    this.clearPeek();
    if (result.kind === "error") {
      this.refuseProxyHeader("malformed", result.reason);
      return;
    }
    this.proxyPeer = this.client.remote;
    this.remote = clientNamedBy(result.header, this.client.remote);
    this.phase = PEEK;
    this.startRouting(result.rest);
  }

  private refuseProxyHeader(reason: string, detail: string): void {
    this.clearPeek();
    const client = this.client;
    this.gateway.counters.proxyProtocolRefused++;
    this.gateway.metrics.proxyProtocolRefused.inc({ reason });
    this.gateway.logger.warn(
      { client: client.remote.address, port: client.local.port, reason: detail },
      "PROXY protocol header refused, connection closed",
    );
    this.phase = DONE;
    client.setHandlers(DISCARD);
    client.destroy();
    this.release();
  }

  // ---- client side handlers ----

  onData(chunk: Uint8Array): void {
    if (this.phase === BRIDGE) {
      this.record!.bytesFromClient += chunk.byteLength;
      if (!this.upstream!.write(chunk)) this.client.pause();
      return;
    }
    if (this.phase === PEEK) {
      this.peek(chunk);
      return;
    }
    if (this.phase === PROXY_HEADER) {
      this.readProxyHeader(chunk);
      return;
    }
    if (this.phase !== SETUP) return;
    if (this.pending) this.pending.push(copyOf(chunk));
    else this.pending = [copyOf(chunk)];
    const reading = this.firstBytes;
    if (reading) {
      const result = reading.reader(chunk);
      if (result.kind !== "need-more") this.endFirstBytes(result);
    }
  }

  onEnd(): void {
    this.clientEnded = true;
    this.endReason ??= "client_closed";
    if (this.phase === BRIDGE) this.upstream!.end();
    else if (this.phase === PEEK) this.routeWithSni(undefined);
    else if (this.phase === SETUP) this.endFirstBytes(FIRST_BYTES_CLOSED);
    else if (this.phase === PROXY_HEADER)
      this.refuseProxyHeader("missing", "connection ended before its PROXY protocol header");
  }

  onDrain(): void {
    if (this.phase === BRIDGE) this.upstream!.resume();
  }

  onClose(error?: Error): void {
    this.clientClosed = true;
    if (error) this.endReason ??= errorCode(error) === "ECONNRESET" ? "client_reset" : "client_error";
    else this.endReason ??= "client_closed";
    if (this.phase === PEEK || this.phase === PROXY_HEADER) {
      // gone before it could be routed: nothing was proxied, nothing to log
      this.clearPeek();
      this.phase = DONE;
      this.release();
      return;
    }
    this.endFirstBytes(FIRST_BYTES_CLOSED);
    const upstream = this.upstream;
    if (upstream && !this.upstreamClosed) {
      if (error) upstream.destroy();
      else upstream.end();
    }
    this.maybeFinish();
  }

  upstreamGone(error: Error | undefined): void {
    this.upstreamClosed = true;
    if (error) this.endReason ??= errorCode(error) === "ECONNRESET" ? "upstream_reset" : "upstream_error";
    else this.endReason ??= "upstream_closed";
    if (!this.clientClosed) {
      if (error) this.client.destroy();
      else this.client.end();
    }
    this.maybeFinish();
  }

  // ---- the client's first bytes, for a preread hook ----

  read<Done extends object>(reader: (chunk: Uint8Array) => FirstBytesResult<Done>): Promise<FirstBytesOutcome<Done>> {
    if (this.phase !== SETUP || this.firstBytes) return Promise.resolve({ kind: "error", reason: "not readable now" });
    // what arrived before (peeked for SNI, after a PROXY header, while the connection was paused)
    if (this.pending) {
      for (const chunk of this.pending) {
        const result = reader(chunk);
        if (result.kind !== "need-more") return Promise.resolve(result);
      }
    }
    if (this.clientEnded || this.clientClosed) return Promise.resolve({ kind: "closed" });
    return new Promise((resolve) => {
      this.firstBytes = {
        reader,
        resolve: resolve as (outcome: FirstBytesOutcome<object>) => void,
        timer: setTimeout(() => this.endFirstBytes(FIRST_BYTES_TIMEOUT), timerDelay(this.gateway.sniTimeoutMs)),
      };
      this.client.resume();
    });
  }

  private endFirstBytes(outcome: FirstBytesOutcome<object>): void {
    const reading = this.firstBytes;
    if (!reading) return;
    this.firstBytes = undefined;
    clearTimeout(reading.timer);
    if (!this.clientClosed) this.client.pause();
    reading.resolve(outcome);
  }

  // ---- sweep ----

  sweep(now: number): void {
    if (this.phase === DONE) return;
    if (this.drainAt !== 0 && now >= this.drainAt) {
      this.abort("drained");
      return;
    }
    if (this.phase !== BRIDGE && this.phase !== CLOSING) return;
    const r = this.record!;
    const total = r.bytesFromClient + r.bytesToClient;
    if (total !== this.lastBytes || this.lastActiveAt === 0) {
      this.lastBytes = total;
      this.lastActiveAt = now;
      return;
    }
    // Once a side has closed its half, only the rest of an answer is still due: the shorter fin timeout
    // applies, so peers that never close their own half do not hold two sockets for the idle timeout.
    const pool = this.route!.pool;
    const halfClosed = this.clientEnded || this.clientClosed || this.upstreamEnded || this.upstreamClosed;
    if (halfClosed && now - this.lastActiveAt >= pool.finTimeoutMs) this.abort("fin_timeout");
    else if (now - this.lastActiveAt >= pool.idleTimeoutMs) this.abort("idle_timeout");
  }

  abort(reason: string): void {
    if (this.phase === DONE) return;
    this.forcedReason ??= reason;
    this.upstream?.destroy();
    this.client.destroy();
  }

  // ---- routing ----

  private peek(chunk: Uint8Array): void {
    const needed = this.peekLength + chunk.byteLength;
    let buffer = this.peekBuffer;
    if (!buffer || buffer.byteLength < needed) {
      // grows by doubling up to the peek limit; a last chunk may take it past the limit once
      const grown = new Uint8Array(Math.max(needed, Math.min((buffer?.byteLength ?? 1024) * 2, SNI_PEEK_LIMIT)));
      if (buffer) grown.set(buffer.subarray(0, this.peekLength));
      buffer = this.peekBuffer = grown;
    }
    buffer.set(chunk, this.peekLength);
    this.peekLength = needed;
    // Parse only once enough has arrived to change the answer: a client trickling bytes gets a
    // bounded number of parses, not one per chunk.
    if (this.peekLength < this.peekNeed && this.peekLength < SNI_PEEK_LIMIT) return;
    const hello = parseClientHello(buffer, this.peekLength);
    if (hello.kind === "incomplete") this.peekNeed = hello.need;
    if (hello.kind === "incomplete" && this.peekLength < SNI_PEEK_LIMIT) return;
    this.routeWithSni(hello.kind === "client-hello" ? hello.serverName : undefined);
  }

  private clearPeek(): void {
    if (this.peekTimer !== undefined) {
      clearTimeout(this.peekTimer);
      this.peekTimer = undefined;
    }
  }

  private routeWithSni(sni: string | undefined): void {
    if (this.phase !== PEEK) return;
    this.clearPeek();
    const client = this.client;
    client.pause();
    if (this.peekBuffer) this.pending = [this.peekBuffer.subarray(0, this.peekLength)];
    this.peekBuffer = undefined;
    const table = this.table;
    const route = table.match(this.remote.address, table.serverAddrRoutes ? client.local.address : "", sni);
    if (!route) {
      this.gateway.noRoute("tcp", client.local);
      this.phase = DONE;
      this.gateway.logger.debug(
        { client: this.remote.address, port: client.local.port, sni },
        "no stream route matched, connection closed",
      );
      client.setHandlers(DISCARD);
      client.destroy();
      this.release();
      return;
    }
    this.route = route;
    this.phase = SETUP;
    this.record = new SessionRecord("tcp", this.remote, client, route, sni, this.acceptedAt);
    this.record.proxy = this.proxyPeer;
    this.record.clientBytes = this;
    // Plugins (their log phase, the prometheus export) and the access log read the local address once the
    // connection has closed; a plain route at `warn` never reads it.
    if (route.plugins.length > 0 || this.gateway.logger.isLevelEnabled("info")) this.record.keepServerAddress();
    route.metrics.sessionStarted(this.record);
    if (route.terminate) {
      const replay = this.pending?.[0];
      this.pending = undefined;
      const hasSni = route.match.sni !== undefined;
      const certificates = this.generation.certificates;
      terminateTls(this.gateway.adapter, certificates, client, sni, hasSni, replay).then((result) =>
        isRefusal(result) ? this.refuseTls(result) : this.afterTls(result),
      );
      return;
    }
    this.runPrereadPhase();
  }

  private refuseTls(refusal: TlsRefusal): void {
    const record = this.record!;
    record.code = refusal.code;
    this.gateway.counters.tlsRefused++;
    this.gateway.metrics.tlsHandshakeFailures.inc({ cause: refusal.cause });
    this.gateway.logger.warn(
      {
        route: record.route.id,
        client: this.remote.address,
        sni: record.sni,
        cause: refusal.cause,
        reason: refusal.reason,
      },
      "TLS with the client failed, connection closed",
    );
    // the connection underneath is already closed; its events went to the TLS layer
    this.clientClosed = true;
    this.failSetup(`tls_${refusal.cause}`);
  }

  private afterTls(decrypted: TcpConnection): void {
    this.client = decrypted;
    this.record!.tls = decrypted.tls;
    decrypted.setHandlers(this);
    if (this.phase !== SETUP) return;
    decrypted.pause();
    this.runPrereadPhase();
  }

  private runPrereadPhase(): void {
    const plugins = this.route!.plugins;
    if (plugins.length === 0) {
      this.afterPreread(NO_PREREAD);
      return;
    }
    const progress = runPrereads(plugins, this.record!, () => this.isAbandoned());
    if (progress instanceof Promise) progress.then((p) => this.afterPreread(p));
    else this.afterPreread(progress);
  }

  private isAbandoned(): boolean {
    return this.clientClosed || this.forcedReason !== undefined;
  }

  private afterPreread(progress: PrereadProgress): void {
    this.prereadRan = progress.ran;
    const record = this.record!;
    if (progress.error) {
      this.gateway.logger.error({ route: record.route.id, reason: progress.error.message }, "plugin preread failed");
      record.code = 500;
      this.failSetup("plugin_error");
      return;
    }
    if (progress.reject !== undefined) {
      record.code = progress.reject;
      this.gateway.counters.rejected++;
      this.failSetup(progress.rejectReason ?? "rejected");
      return;
    }
    if (this.isAbandoned()) {
      this.failSetup(undefined);
      return;
    }
    this.connect().catch((error: unknown) => {
      this.gateway.logger.error({ route: record.route.id, reason: (error as Error).message }, "connect failed");
      this.failSetup("error");
    });
  }

  private failSetup(reason: string | undefined): void {
    if (reason) this.forcedReason ??= reason;
    this.phase = CLOSING;
    this.client.destroy();
    this.maybeFinish();
  }

  private async connect(): Promise<void> {
    const route = this.route!;
    const pool = route.pool;
    const context = new SessionFacts(this.record!);
    // nodes a retry must not pick again; made at the first failure, as most connections need no retry
    let tried: Set<UpstreamNode> | undefined;
    const started = Date.now();
    const deadline = pool.retryTimeoutMs > 0 ? started + pool.retryTimeoutMs : Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt <= pool.retries; attempt++) {
      const node = pool.pick(context, tried);
      if (!node) break;
      const timeoutMs = timerDelay(Math.min(pool.connectTimeoutMs, deadline - Date.now()));
      if (timeoutMs <= 0) {
        pool.release(node);
        break;
      }
      const t0 = Date.now();
      let upstream: TcpConnection;
      try {
        const target = { host: node.host, port: node.port, timeoutMs };
        const tls = pool.upstream.tls;
        upstream = tls
          ? await this.gateway.adapter.connectTls(target, upstreamTlsOptions(tls, node.host, this.record!.sni))
          : await this.gateway.adapter.connectTcp(target);
      } catch (error) {
        tried ??= new Set();
        tried.add(node);
        const code = errorCode(error as Error);
        pool.failed(node, code === "ETIMEDOUT");
        pool.release(node);
        this.record!.triedNode = pool.name(node);
        this.gateway.logger.warn(
          { route: route.id, node: pool.name(node), code, attempt: attempt + 1 },
          "upstream connect failed",
        );
        if (this.isAbandoned()) break;
        continue;
      }
      const now = Date.now();
      pool.connected(node, now - t0);
      this.node = node;
      this.record!.node = pool.name(node);
      this.record!.connectMs = now - started;
      this.startBridge(upstream);
      return;
    }
    if (this.isAbandoned()) {
      this.failSetup(undefined);
      return;
    }
    this.record!.code = 502;
    this.gateway.counters.upstreamFailures++;
    this.failSetup("connect_failed");
  }

  private startBridge(upstream: TcpConnection): void {
    this.upstream = upstream;
    upstream.setHandlers(new UpstreamSide(this));
    if (this.isAbandoned()) {
      this.phase = CLOSING;
      upstream.destroy();
      this.maybeFinish();
      return;
    }
    this.phase = BRIDGE;
    let flowing = true;
    const proxyProtocol = this.route!.pool.upstream.proxy_protocol;
    if (proxyProtocol) flowing = upstream.write(headerForUpstream(proxyProtocol, this.remote, this.client.local));
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      for (const chunk of pending) {
        this.record!.bytesFromClient += chunk.byteLength;
        flowing = upstream.write(chunk);
      }
    }
    if (this.clientEnded) upstream.end();
    else if (flowing) this.client.resume();
  }

  private maybeFinish(): void {
    if (this.phase === SETUP || this.phase === DONE || this.phase === PEEK) return;
    if (!this.clientClosed) return;
    if (this.upstream && !this.upstreamClosed) return;
    this.finish();
  }

  private finish(): void {
    this.phase = DONE;
    const record = this.record!;
    const route = this.route!;
    record.endedAt = Date.now();
    record.closeReason = this.forcedReason ?? this.endReason ?? "closed";
    if (this.node) route.pool.release(this.node);
    if (route.plugins.length > 0) {
      runLogs(route.plugins, record, this.prereadRan, (plugin, error) =>
        this.gateway.logger.error({ plugin, reason: error.message }, "plugin log failed"),
      );
    }
    route.metrics.sessionEnded(record);
    writeAccessLog(this.gateway.logger, record);
    this.release();
  }

  private release(): void {
    this.generation.release();
    this.gateway.sessionEnded(this);
  }
}
