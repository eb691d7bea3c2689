/**
 * Node.js socket adapter: the `SocketAdapter` contract of `src/proxy/adapter.ts` on Node's sockets. TCP
 * connections are libuv handles (`tcp-handle.ts`) where Node has them, else `net.Socket`s (this file,
 * also what Bun's and Deno's node-compat adapters run); UDP is in `udp-socket.ts`. Node's own Buffers are
 * handed straight through (no copy, no wrapper per chunk); on the `net.Socket` path events that arrive
 * before `setHandlers` are queued and replayed in order.
 */
import net from "node:net";
import type { Writable } from "node:stream";
import {
  type AddressInfo,
  addressFamily,
  normaliseAddress,
  peerResetError,
  type SocketAdapter,
  type TcpConnection,
  type TcpConnectOptions,
  type TcpHandlers,
  type TcpListener,
  type TcpListenOptions,
  type TlsClientOptions,
  type TlsSessionInfo,
} from "../../src/proxy/adapter.ts";
import type { FdLimitPause, PausableListener } from "./fd-limit-pause.ts";
import { isFreshChunk, markFreshChunk } from "./fresh-chunk.ts";
import { acceptHandles, connectHandle, HandleTcpConnection, tcpHandleBindings } from "./tcp-handle.ts";
import { startClientTls, startServerTls } from "./tls-layer.ts";
import { bindNodeUdp } from "./udp-socket.ts";

type EarlyEvent = { kind: "data"; chunk: Buffer } | { kind: "end" } | { kind: "drain" } | { kind: "close" };

/** Bun's native adapter reads fresh chunks too and writes upstream through this adapter. */
export { markFreshChunk as deliveringFreshChunk } from "./fresh-chunk.ts";

function addressOf(address: string | undefined, port: number | undefined): AddressInfo {
  const a = normaliseAddress(address ?? "");
  return { address: a, port: port ?? 0, family: addressFamily(a) };
}

export class NodeTcpConnection implements TcpConnection {
  // read on first use: each is a getsockname/getpeername syscall, and an upstream socket's are rarely needed
  private localInfo: AddressInfo | undefined;
  private remoteInfo: AddressInfo | undefined;
  private handlers: TcpHandlers | undefined;
  /** events seen before `setHandlers`; only ever used in the first tick of a connection */
  private early: EarlyEvent[] | undefined = [];
  private error: Error | undefined;
  private closed = false;

  get local(): AddressInfo {
    this.localInfo ??= addressOf(this.socket.localAddress, this.socket.localPort);
    return this.localInfo;
  }

  get remote(): AddressInfo {
    this.remoteInfo ??= addressOf(this.socket.remoteAddress, this.socket.remotePort);
    return this.remoteInfo;
  }

  /**
   * `addresses` for a socket that is not a kernel socket (TLS over another connection): its own say
   * nothing, the connection underneath has them.
   */
  constructor(
    private readonly socket: net.Socket,
    addresses?: { local: AddressInfo; remote: AddressInfo },
    readonly tls?: TlsSessionInfo,
    /**
     * The stream a TLS socket writes its records into, when that is not a kernel socket. Bun's
     * `TLSSocket` over a stream ignores that stream's backpressure and reports itself drained while the
     * records pile up underneath (gigabytes behind a slow reader), so this connection says stop, and
     * drains, by both.
     */
    private readonly lower?: Writable,
  ) {
    this.localInfo = addresses?.local;
    this.remoteInfo = addresses?.remote;
    socket.setNoDelay(true);
    socket.on("data", this.onSocketData);
    socket.on("end", this.onSocketEnd);
    socket.on("drain", this.onSocketDrain);
    lower?.on("drain", this.onLowerDrain);
    socket.on("error", this.onSocketError);
    socket.on("close", this.onSocketClose);
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    const h = this.handlers;
    markFreshChunk(chunk);
    if (h !== undefined) h.onData(chunk);
    else this.early?.push({ kind: "data", chunk });
  };

  private readonly onSocketEnd = (): void => {
    if (this.handlers) this.handlers.onEnd();
    else this.early?.push({ kind: "end" });
  };

  private readonly onSocketDrain = (): void => {
    if (this.lower?.writableNeedDrain) return;
    if (this.handlers) this.handlers.onDrain();
    else this.early?.push({ kind: "drain" });
  };

  private readonly onLowerDrain = (): void => {
    if (this.socket.writableNeedDrain) return;
    if (this.handlers) this.handlers.onDrain();
    else this.early?.push({ kind: "drain" });
  };

  private readonly onSocketError = (error: Error): void => {
    this.error ??= peerResetError(error);
  };

  private readonly onSocketClose = (): void => {
    if (this.closed) return;
    if (this.handlers) {
      this.closed = true;
      this.handlers.onClose(this.error);
    } else this.early?.push({ kind: "close" });
  };

  /**
   * Hands the kernel socket over to a layer that takes its handle (a `TLSSocket`): stops
   * delivering its events, leaves it paused, and puts `replay` (what was read so far) back in front of
   * anything it buffered since, so the new owner reads the stream from its first byte.
   */
  detachSocket(replay: Uint8Array | undefined): net.Socket {
    const socket = this.socket;
    // only this connection's listeners: net.Socket has its own (its `end` handling among them)
    socket.off("data", this.onSocketData);
    socket.off("end", this.onSocketEnd);
    socket.off("drain", this.onSocketDrain);
    socket.off("error", this.onSocketError);
    socket.off("close", this.onSocketClose);
    this.handlers = undefined;
    this.early = undefined;
    this.closed = true;
    socket.pause();
    if (replay !== undefined && replay.byteLength > 0) socket.unshift(Buffer.from(replay));
    return socket;
  }

  setHandlers(handlers: TcpHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = undefined;
    if (!early) return;
    for (const event of early) {
      if (event.kind === "data") {
        markFreshChunk(event.chunk);
        handlers.onData(event.chunk);
      } else if (event.kind === "end") handlers.onEnd();
      else if (event.kind === "drain") handlers.onDrain();
      else if (!this.closed) {
        this.closed = true;
        handlers.onClose(this.error);
      }
    }
  }

  write(chunk: Uint8Array): boolean {
    if (this.socket.destroyed) return true;
    const accepted = this.socket.write(isFreshChunk(chunk) ? chunk : Buffer.from(chunk));
    return accepted && this.lower?.writableNeedDrain !== true;
  }

  end(): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
  }

  destroy(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    // RST where possible: the peer must see an abort, not a clean end, when the gateway gives up.
    if (socket.readyState === "open" || socket.readyState === "readOnly" || socket.readyState === "writeOnly") {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // fall through to a plain destroy
      }
    }
    socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get bufferedAmount(): number {
    return this.socket.writableLength + (this.lower?.writableLength ?? 0);
  }
}

class NodeTcpListener implements TcpListener, PausableListener {
  private closed = false;
  private listening = true;
  private readonly unwatch: () => void;

  constructor(
    private readonly server: net.Server,
    readonly address: AddressInfo,
    private readonly options: TcpListenOptions,
    fdLimitPause: FdLimitPause | undefined,
    /** re-installs the handle accept path on the new listening handle of a resumed listener */
    private readonly onListening: () => void,
  ) {
    this.unwatch = fdLimitPause?.watch(this) ?? (() => {});
  }

  pause(): void {
    if (!this.listening) return;
    this.listening = false;
    // Established connections are not tracked by the server's close: it stops accepting at once.
    this.server.close();
  }

  resume(): Promise<void> {
    if (this.closed || this.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.server.once("error", failed);
      this.server.listen(
        { host: this.options.host, port: this.address.port, backlog: 511, reusePort: this.options.reusePort },
        () => {
          this.server.off("error", failed);
          this.listening = true;
          this.onListening();
          resolve();
        },
      );
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.unwatch();
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      // Established connections are not tracked by the server's close: it resolves once it stops accepting.
      this.server.close(() => resolve());
      setImmediate(resolve);
    });
  }
}

function withCode(error: unknown): Error {
  if (error instanceof Error) return error;
  return Object.assign(new Error(String(error)), { code: "EUNKNOWN" });
}

/**
 * `pauseAtFdLimit`: for `node:net` on a runtime whose accept loop spins (Bun) or dies (Deno) at the fd
 * limit, listeners pause there and listen again once fds are free (runtime/node/fd-limit-pause.ts). Node's
 * own loop needs nothing: libuv drains the accept queue with a spare fd.
 */
export function createNodeSocketAdapter(
  settings: { pauseAtFdLimit?: FdLimitPause; netSockets?: boolean } = {},
): SocketAdapter {
  const { pauseAtFdLimit } = settings;
  // libuv handles where Node has them (runtime/node/tcp-handle.ts); `net.Socket` elsewhere or when asked
  const handles = settings.netSockets === true ? undefined : tcpHandleBindings();
  const adapter: SocketAdapter = {
    name: handles === undefined && settings.netSockets === true ? "node-net" : "node",
    runtime: `node ${process.versions.node}`,

    listenTcp(options: TcpListenOptions, onConnection: (connection: TcpConnection) => void): Promise<TcpListener> {
      return new Promise((resolve, reject) => {
        const server = net.createServer({ allowHalfOpen: true, noDelay: true });
        const takeHandles = () => {
          if (handles !== undefined) acceptHandles(server, handles, onConnection);
        };
        server.on("connection", (socket: net.Socket) => {
          // A socket reset before we see it has no addresses; there is nothing to proxy.
          if (socket.remoteAddress === undefined) {
            socket.destroy();
            return;
          }
          onConnection(new NodeTcpConnection(socket));
        });
        const onListenError = (error: Error) => reject(withCode(error));
        server.once("error", onListenError);
        // Node 20 ignores `reusePort` (added in 22.12); it is passed so newer Node honours it. In a cluster
        // worker (`--workers`) a listener without it is the primary's shared handle; with it, the
        // worker's own socket (`exclusive`).
        const reusePort = options.reusePort === true;
        server.listen({ host: options.host, port: options.port, backlog: 511, reusePort, exclusive: reusePort }, () => {
          server.off("error", onListenError);
          // accept() errors (EMFILE, ...) must not crash the process; the server keeps accepting.
          server.on("error", () => {});
          takeHandles();
          const a = server.address() as net.AddressInfo;
          resolve(new NodeTcpListener(server, addressOf(a.address, a.port), options, pauseAtFdLimit, takeHandles));
        });
      });
    },

    connectTcp(options: TcpConnectOptions): Promise<TcpConnection> {
      if (handles !== undefined) return connectHandle(options, handles);
      return new Promise((resolve, reject) => {
        const socket = net.connect({
          host: options.host,
          port: options.port,
          allowHalfOpen: true,
          noDelay: true,
        });
        let settled = false;
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          socket.destroy();
          reject(
            Object.assign(new Error(`connect to ${options.host}:${options.port} timed out`), { code: "ETIMEDOUT" }),
          );
        }, options.timeoutMs);
        socket.once("error", (error: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          reject(withCode(error));
        });
        socket.once("connect", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(new NodeTcpConnection(socket));
        });
      });
    },

    bindUdp: bindNodeUdp,

    startServerTls,

    async connectTls(options: TcpConnectOptions, tls: TlsClientOptions): Promise<TcpConnection> {
      return startClientTls(await adapter.connectTcp(options), tls, options.timeoutMs);
    },
  };
  return adapter;
}

/**
 * The kernel socket under a connection of this adapter as a `net.Socket`, taken over from the
 * connection (see `detachSocket`), or undefined for a connection of another adapter.
 */
export function takeKernelSocket(connection: TcpConnection, replay: Uint8Array | undefined): net.Socket | undefined {
  if (connection instanceof NodeTcpConnection || connection instanceof HandleTcpConnection) {
    return connection.detachSocket(replay);
  }
  return undefined;
}
