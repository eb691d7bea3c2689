/**
 * The socket adapter: everything the pipeline needs from a runtime, and nothing more. Each runtime
 * implements it once in `runtime/<name>/socket-adapter.ts` (Node `net`/`dgram`, Bun's `listen`/
 * `connect`/`udpSocket`, Deno's `listen`/`connect`/`listenDatagram`). Nothing in
 * `src/` touches a runtime API directly. The interface is owned by the pipeline (it lives here, not in
 * `runtime/`) so that `src/` never imports from `runtime/`; runtimes depend on the pipeline, not the
 * other way round.
 *
 * Design rules, for speed on the hot path:
 * - Callbacks, not promises or streams, per chunk: `onData` is called synchronously with each chunk and
 *   `write` is synchronous. The only promises are per listener / per connect, never per chunk.
 * - A chunk passed to `onData` is only valid during the call: an adapter may reuse its buffer. The
 *   pipeline writes it straight to the other side (the adapter copies what it must keep) or copies it.
 * - Backpressure is explicit: `write` returns false once the adapter holds more than its high-water mark
 *   of unsent bytes; the caller then `pause()`s its source and `resume()`s it on the sink's `onDrain`.
 */

export interface AddressInfo {
  /** normalised: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is given as `1.2.3.4`; IPv6 without brackets */
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

export interface TcpHandlers {
  /** a chunk from the peer; valid only during the call */
  onData(chunk: Uint8Array): void;
  /** the peer half-closed (FIN); writing is still allowed until `end()` */
  onEnd(): void;
  /** the write buffer went below the high-water mark after `write` returned false */
  onDrain(): void;
  /**
   * the connection is gone (both directions), after an error or after both sides ended; called once.
   * A reset by the peer has `code` `ECONNRESET` (also when a write found it first, which the kernel calls
   * `EPIPE`), and so does a close that leaves bytes unsent: only a clean close has no error.
   */
  onClose(error?: Error): void;
}

export interface TcpConnection {
  readonly local: AddressInfo;
  readonly remote: AddressInfo;
  /**
   * Installs the handlers. An accepted or connected socket delivers nothing (data, end, close) before
   * this is called; events that happened before are delivered right after, in order.
   */
  setHandlers(handlers: TcpHandlers): void;
  /** queue bytes; returns false when the caller should stop writing until `onDrain` */
  write(chunk: Uint8Array): boolean;
  /** half-close: send FIN once queued bytes are flushed */
  end(): void;
  /** close now, discarding queued bytes (RST where the runtime allows it); `onClose` follows */
  destroy(): void;
  /** stop / restart delivering `onData` (flow control) */
  pause(): void;
  resume(): void;
  /** bytes queued in the adapter and not yet handed to the kernel */
  readonly bufferedAmount: number;
  /** what the TLS handshake settled, on a connection `startServerTls` or `connectTls` gave */
  readonly tls?: TlsSessionInfo;
}

/** One certificate set a TLS server presents (the gateway group's SSL object for the client's name). */
export interface TlsServerIdentity {
  /** PEM chains and their keys; more than one pair serves an ECDSA and an RSA chain side by side */
  readonly pairs: readonly { readonly cert: string; readonly key: string }[];
  /** mTLS: the client must present a certificate that verifies against `ca` within `depth` intermediates */
  readonly client?: { readonly ca: string; readonly depth: number };
  /** the versions a handshake may use, e.g. `["TLSv1.2", "TLSv1.3"]` */
  readonly protocols: readonly ("TLSv1.2" | "TLSv1.3")[];
}

export interface TlsServerOptions {
  /**
   * The identity to present. The adapter builds its TLS context once per identity object and keeps it
   * while the object lives, so a new object (a replaced certificate) takes effect at the next handshake
   * and handshakes already done are untouched.
   */
  identity: TlsServerIdentity;
  /** bytes already read from the connection (the ClientHello the SNI peek took): TLS reads them first */
  replay?: Uint8Array;
  /** reject with `code` `ETIMEDOUT` when the handshake has not finished after this many milliseconds */
  timeoutMs: number;
}

export interface TlsClientOptions {
  /** the server name sent (SNI) and verified; none for an IP address */
  servername?: string;
  /** verify the server's certificate (against `ca`, else the runtime's roots) */
  verify: boolean;
  ca?: string;
  /** a client certificate and key to present (PEM) */
  cert?: string;
  key?: string;
}

/** What a handshake settled, for the access log. */
export interface TlsSessionInfo {
  /** `TLSv1.3`, `TLSv1.2` */
  protocol: string;
  /** the OpenSSL / IANA cipher name the runtime reports */
  cipher: string;
  /** the server name the client sent (server side) or that was sent (client side) */
  serverName?: string;
}

/**
 * A TLS handshake that failed. `code` is `ETLS` (the peer or the certificates: `reason` says what), or
 * `ETIMEDOUT`, or the connection's own error code (`ECONNRESET`).
 */
export interface TlsHandshakeError extends Error {
  code: string;
  /** short cause for counters: `client_certificate`, `protocol`, `timeout`, `closed`, `certificate`, … */
  cause_label: string;
}

export interface TcpListenOptions {
  host: string;
  port: number;
  /** share the port with other processes (SO_REUSEPORT) where the runtime supports it */
  reusePort?: boolean;
}

export interface TcpListener {
  /** the bound address (the real port when 0 was asked for) */
  readonly address: AddressInfo;
  /** stop accepting; established connections are not touched */
  close(): Promise<void>;
}

export interface TcpConnectOptions {
  host: string;
  port: number;
  /** fail with an error whose `code` is `ETIMEDOUT` after this many milliseconds */
  timeoutMs: number;
}

export interface UdpBindOptions {
  host: string;
  port: number;
  reusePort?: boolean;
}

export interface UdpSocket {
  readonly address: AddressInfo;
  /** fire-and-forget; a datagram that cannot be sent is dropped (UDP semantics) */
  send(data: Uint8Array, port: number, host: string): void;
  close(): void;
}

/** Called for each datagram; `data` is valid only during the call. */
export type UdpMessageHandler = (data: Uint8Array, from: AddressInfo) => void;

/**
 * Called for an error on a bound UDP socket: a send that failed, or an ICMP error for an earlier send
 * (`ECONNREFUSED`: nothing listens on the port sent to), where the runtime reports those. The socket
 * stays open and usable: the error concerns one datagram, never the process.
 */
export type UdpErrorHandler = (error: Error & { code?: string }) => void;

export interface SocketAdapter {
  /** e.g. `node`, `bun-native`, `bun-node-compat`, `deno-native` */
  readonly name: string;
  /** the runtime and its version, e.g. `node 20.20.2` */
  readonly runtime: string;
  /** rejects with the runtime's error (`code` EADDRINUSE, EACCES, …) when the port cannot be bound */
  listenTcp(options: TcpListenOptions, onConnection: (connection: TcpConnection) => void): Promise<TcpListener>;
  /** resolves once connected; rejects with an error with `code` (ECONNREFUSED, ETIMEDOUT, …) */
  connectTcp(options: TcpConnectOptions): Promise<TcpConnection>;
  /**
   * How many connects that timed out may keep their socket (and fd) connecting until the kernel gives up,
   * where the runtime cannot cancel a connect (Bun's native connect in runtime/bun); beyond it every timed-out connect is
   * cancelled. Absent: every timed-out connect is cancelled.
   */
  readonly uncancellableConnectLimit?: number;
  /**
   * a UDP socket bound to host:port (port 0 for an ephemeral port, as an upstream session socket); no
   * error of the socket is ever thrown or left unhandled: each goes to `onError` (or is dropped without one)
   */
  bindUdp(options: UdpBindOptions, onMessage: UdpMessageHandler, onError?: UdpErrorHandler): Promise<UdpSocket>;
  /**
   * Runs a TLS server handshake on an accepted connection and resolves with the decrypted connection
   * (`tls` set); the given connection then belongs to it. Rejects with a `TlsHandshakeError` after
   * destroying the connection; with `identity.client` a client certificate that does not verify fails.
   */
  startServerTls(connection: TcpConnection, options: TlsServerOptions): Promise<TcpConnection>;
  /** connects, then runs a TLS client handshake; rejects like `connectTcp`, or with a `TlsHandshakeError` */
  connectTls(options: TcpConnectOptions, tls: TlsClientOptions): Promise<TcpConnection>;
}

/** The error a connection closes with: a write that met the peer's reset (`EPIPE`) is that reset. */
export function peerResetError(error: Error): Error {
  const coded = error as Error & { code?: string };
  if (coded.code === "EPIPE") coded.code = "ECONNRESET";
  return error;
}

/** Normalises a peer address as the pipeline expects it (IPv4-mapped IPv6 → IPv4). */
export function normaliseAddress(address: string): string {
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7);
  return address;
}

export function addressFamily(address: string): "IPv4" | "IPv6" {
  return address.includes(":") ? "IPv6" : "IPv4";
}
