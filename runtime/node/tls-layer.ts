/**
 * TLS on top of any adapter's `TcpConnection`, through `node:tls`: the server handshake on an accepted
 * connection after the SNI peek (the peeked bytes replayed first) and the client handshake to an
 * upstream. Every adapter uses it: neither Bun nor Deno can start a server-side TLS session on an
 * already accepted socket with their own API (Bun's `upgradeTLS` and `Deno.startTls` are client-only),
 * and `node:tls` over a stream works the same on all three runtimes (see docs/runtimes.md).
 *
 * The connection underneath is wrapped in a `Duplex` (`ConnectionStream`); `tls.TLSSocket` runs over it
 * and is handed back as a `NodeTcpConnection`, so the pipeline sees the plain `TcpConnection` contract.
 */
import { Duplex } from "node:stream";
import tls from "node:tls";
import type {
  TcpConnection,
  TcpHandlers,
  TlsClientOptions,
  TlsHandshakeError,
  TlsServerIdentity,
  TlsServerOptions,
  TlsSessionInfo,
} from "../../src/proxy/adapter.ts";
import { NodeTcpConnection } from "./socket-adapter.ts";

/** A `TcpConnection` as a Node stream, with backpressure both ways. */
class ConnectionStream extends Duplex implements TcpHandlers {
  private drained: ((error?: Error | null) => void) | undefined;

  constructor(
    private readonly connection: TcpConnection,
    replay: Uint8Array | undefined,
  ) {
    super({ allowHalfOpen: true });
    if (replay !== undefined && replay.byteLength > 0) this.push(Buffer.from(replay));
    connection.setHandlers(this);
  }

  onData(chunk: Uint8Array): void {
    // the chunk is only valid during this call: Buffer.from copies it
    if (!this.push(Buffer.from(chunk))) this.connection.pause();
  }

  onEnd(): void {
    this.push(null);
  }

  onDrain(): void {
    const callback = this.drained;
    this.drained = undefined;
    callback?.();
  }

  onClose(error?: Error): void {
    if (error) this.destroy(error);
    else {
      this.push(null);
      this.destroy();
    }
  }

  override _read(): void {
    this.connection.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.connection.write(chunk)) callback();
    else this.drained = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.connection.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.connection.destroy();
    callback(error);
  }
}

const contexts = new WeakMap<TlsServerIdentity, tls.SecureContext>();

function serverContext(identity: TlsServerIdentity): tls.SecureContext {
  let context = contexts.get(identity);
  if (context === undefined) {
    const versions = [...identity.protocols].sort();
    context = tls.createSecureContext({
      cert: identity.pairs.map((p) => p.cert),
      key: identity.pairs.map((p) => p.key),
      ca: identity.client?.ca,
      minVersion: versions[0] ?? "TLSv1.2",
      maxVersion: versions[versions.length - 1] ?? "TLSv1.3",
    });
    contexts.set(identity, context);
  }
  return context;
}

function handshakeError(message: string, code: string, cause: string): TlsHandshakeError {
  return Object.assign(new Error(message), { code, cause_label: cause });
}

/** A handshake error's cause in a few words, for counters (`protocol`, `certificate`, …). */
function causeOf(error: Error & { code?: string }): string {
  const text = `${error.code ?? ""} ${error.message}`.toUpperCase();
  if (text.includes("ECONNRESET") || text.includes("SOCKET HANG UP") || text.includes("EPIPE")) return "closed";
  if (text.includes("CERT") || text.includes("VERIFY") || text.includes("SELF_SIGNED") || text.includes("ALTNAME")) {
    return "certificate";
  }
  if (text.includes("VERSION") || text.includes("PROTOCOL")) return "protocol";
  if (text.includes("CIPHER")) return "cipher";
  return "handshake";
}

function sessionInfo(socket: tls.TLSSocket, serverName: string | undefined): TlsSessionInfo {
  return {
    protocol: socket.getProtocol() ?? "unknown",
    cipher: socket.getCipher()?.name ?? "unknown",
    serverName,
  };
}

/** How many certificates stand between the client's and its root: the chain the client presented. */
function intermediates(socket: tls.TLSSocket): number {
  let certificate = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  let count = -1;
  const seen = new Set<string>();
  while (certificate?.fingerprint256 && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256);
    count++;
    certificate = certificate.issuerCertificate;
  }
  // the root itself is not an intermediate
  return Math.max(0, count - 1);
}

/** Waits for the handshake of `socket`; destroys it and rejects on failure or after `timeoutMs`. */
function handshake(
  socket: tls.TLSSocket,
  timeoutMs: number,
  event: "secure" | "secureConnect",
  check: () => TlsHandshakeError | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: TlsHandshakeError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(handshakeError(`TLS handshake not finished after ${timeoutMs} ms`, "ETIMEDOUT", "timeout")),
      timeoutMs,
    );
    socket.once("error", (error: Error & { code?: string }) =>
      fail(handshakeError(error.message, error.code === "ECONNRESET" ? "ECONNRESET" : "ETLS", causeOf(error))),
    );
    socket.once("close", () =>
      fail(handshakeError("connection closed during the TLS handshake", "ECONNRESET", "closed")),
    );
    socket.once(event, () => {
      if (settled) return;
      const refused = check();
      if (refused) {
        fail(refused);
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startServerTls(connection: TcpConnection, options: TlsServerOptions): Promise<TcpConnection> {
  const { identity } = options;
  const addresses = { local: connection.local, remote: connection.remote };
  const stream = new ConnectionStream(connection, options.replay);
  let socket: tls.TLSSocket;
  try {
    socket = new tls.TLSSocket(stream as unknown as import("node:net").Socket, {
      isServer: true,
      secureContext: serverContext(identity),
      requestCert: identity.client !== undefined,
      // checked below so that the reason is ours to log, the same on every runtime
      rejectUnauthorized: false,
    });
  } catch (error) {
    stream.destroy();
    throw handshakeError((error as Error).message, "ETLS", "certificate");
  }
  await handshake(socket, options.timeoutMs, "secure", () => {
    const client = identity.client;
    if (client === undefined) return undefined;
    if (!socket.authorized) {
      const reason = String(socket.authorizationError ?? "no client certificate");
      return handshakeError(`client certificate refused: ${reason}`, "ETLS", "client_certificate");
    }
    if (intermediates(socket) > client.depth) {
      return handshakeError(
        `client certificate refused: chain deeper than ${client.depth}`,
        "ETLS",
        "client_certificate",
      );
    }
    return undefined;
  });
  const serverName = (socket as tls.TLSSocket & { servername?: string | false }).servername || undefined;
  return new NodeTcpConnection(socket, addresses, sessionInfo(socket, serverName));
}

export async function startClientTls(
  connection: TcpConnection,
  options: TlsClientOptions,
  timeoutMs: number,
): Promise<TcpConnection> {
  const addresses = { local: connection.local, remote: connection.remote };
  const stream = new ConnectionStream(connection, undefined);
  const socket = tls.connect({
    socket: stream as unknown as import("node:net").Socket,
    servername: options.servername,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    rejectUnauthorized: options.verify,
    allowHalfOpen: true,
  } as tls.ConnectionOptions);
  await handshake(socket, timeoutMs, "secureConnect", () => undefined);
  return new NodeTcpConnection(socket, addresses, sessionInfo(socket, options.servername));
}
