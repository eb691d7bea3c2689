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
import { X509Certificate } from "node:crypto";
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
import { NodeTcpConnection, takeKernelSocket } from "./socket-adapter.ts";

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

/** The CA certificates of a PEM bundle, parsed once per identity. */
const authorities = new WeakMap<TlsServerIdentity, X509Certificate[]>();

function authoritiesOf(identity: TlsServerIdentity, pem: string): X509Certificate[] {
  let list = authorities.get(identity);
  if (list === undefined) {
    list = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
      (block) => new X509Certificate(block),
    );
    authorities.set(identity, list);
  }
  return list;
}

function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  return child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

function current(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}

/**
 * Why the client's certificate is refused, or undefined when it verifies against `ca` through at most
 * `depth` intermediates the client sent. Checked here, not by the TLS library's verify mode, because the
 * runtimes differ in what a hand-made server `TLSSocket` verifies and reports (Node leaves `authorized`
 * unset outside a `tls.Server`; Bun and Deno accept an unknown issuer unless told otherwise).
 */
function clientCertificateProblem(socket: tls.TLSSocket, identity: TlsServerIdentity): string | undefined {
  const client = identity.client;
  if (client === undefined) return undefined;
  const presented = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  if (!presented?.raw) return "no client certificate";
  const now = Date.now();
  const leaf = new X509Certificate(presented.raw);
  if (!current(leaf, now)) return "client certificate expired or not yet valid";
  const cas = authoritiesOf(identity, client.ca);
  const chain: X509Certificate[] = [];
  const seen = new Set<string>([presented.fingerprint256]);
  for (let c = presented.issuerCertificate; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
  }
  let cursor = leaf;
  for (let hops = 0; hops <= client.depth; hops++) {
    if (cas.some((ca) => issuedBy(cursor, ca))) return undefined;
    const next = chain.find((c) => c !== cursor && issuedBy(cursor, c) && current(c, now));
    if (next === undefined) break;
    cursor = next;
  }
  return "client certificate does not verify against client.ca";
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
    const closed = () => fail(handshakeError("connection closed during the TLS handshake", "ECONNRESET", "closed"));
    socket.once("close", closed);
    // a peer that gives up (an alert, then FIN) ends the stream without an error or a close here
    socket.once("end", closed);
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

/**
 * On Node, a `TLSSocket` made over a `net.Socket` that has its kernel handle runs TLS in C++ on that
 * handle (Node's TLSWrap), while one made over any other stream goes through a JavaScript stream shim,
 * with a copy and several calls per chunk: through Sluice on Node, handshakes went from 0.50× to 0.97×
 * of nginx and bulk from 0.47× to 0.83× (docs/performance.md). Upstream TLS connections take the same
 * path. Bun's `TLSSocket` over its own `net.Socket` (bun-node-compat's accepted sockets, and every
 * bun-native upstream) runs TLS on the socket as well: CPU per byte of TLS bulk 0.84–0.88 ns instead of
 * 1.24–1.60 over the stream. A bun-native accepted socket is a `Bun.listen` one, which is no `net.Socket`,
 * so it keeps the stream path, as Deno does (its `node:tls` is not tried on its own sockets).
 */
const NATIVE_TLS_WRAP = process.versions.deno === undefined;

export async function startServerTls(connection: TcpConnection, options: TlsServerOptions): Promise<TcpConnection> {
  const { identity } = options;
  const addresses = { local: connection.local, remote: connection.remote };
  const stream =
    (NATIVE_TLS_WRAP ? takeKernelSocket(connection, options.replay) : undefined) ??
    new ConnectionStream(connection, options.replay);
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
    const problem = clientCertificateProblem(socket, identity);
    return problem === undefined ? undefined : handshakeError(problem, "ETLS", "client_certificate");
  });
  const serverName = (socket as tls.TLSSocket & { servername?: string | false }).servername || undefined;
  const lower = stream instanceof ConnectionStream ? stream : undefined;
  return new NodeTcpConnection(socket, addresses, sessionInfo(socket, serverName), lower);
}

export async function startClientTls(
  connection: TcpConnection,
  options: TlsClientOptions,
  timeoutMs: number,
): Promise<TcpConnection> {
  const addresses = { local: connection.local, remote: connection.remote };
  const stream =
    (NATIVE_TLS_WRAP ? takeKernelSocket(connection, undefined) : undefined) ??
    new ConnectionStream(connection, undefined);
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
  const lower = stream instanceof ConnectionStream ? stream : undefined;
  return new NodeTcpConnection(socket, addresses, sessionInfo(socket, options.servername), lower);
}
