/**
 * Bun socket adapter on Bun's own API (`Bun.listen`, `Bun.connect`, `Bun.udpSocket`).
 *
 * Bun's `socket.write` hands bytes straight to the kernel and returns how many it took; it keeps
 * nothing. So this adapter keeps the unsent tail itself (a copy of only that tail: the caller's chunk
 * is valid only during the call), returns false once more than its high-water mark is held, and flushes
 * on Bun's `drain` before calling `onDrain`. Flow control uses `socket.pause()`/`resume()` (Bun ≥ 1.2), which stop reading from the
 * kernel, so a slow reader pushes back on the sender through TCP instead of growing a buffer here.
 */
/// <reference path="./bun-api.d.ts" />
import { isIP } from "node:net";
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
  type UdpBindOptions,
  type UdpErrorHandler,
  type UdpMessageHandler,
  type UdpSocket,
} from "../../src/proxy/adapter.ts";
import { type PausableListener, processFdLimitPause } from "../node/fd-limit-pause.ts";
import { createNodeSocketAdapter, deliveringFreshChunk } from "../node/socket-adapter.ts";
import { startServerTls } from "../node/tls-layer.ts";

type BunSocket = BunApi.Socket<BunTcpConnection | undefined>;

/**
 * Unsent bytes held before `write` says stop. Stopping at the first partial write costs a pause, a
 * drain event and a resume per kernel-buffer-full moment; a small allowance keeps the source reading
 * (as node:net's writable high-water mark does) while still bounding memory per connection.
 */
const WRITE_HIGH_WATER_BYTES = 64 * 1024;

/** an error with the errno-style `code` the pipeline switches on */
function codedError(message: string, code: string, cause?: unknown): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  error.code = code;
  return error;
}

function withCode(error: unknown, fallbackCode: string): Error {
  if (error instanceof Error) {
    const coded = error as Error & { code?: unknown };
    if (typeof coded.code !== "string") coded.code = fallbackCode;
    return error;
  }
  return codedError(String(error), fallbackCode);
}

function addressInfo(address: string, port: number): AddressInfo {
  const normalised = normaliseAddress(address);
  return { address: normalised, port, family: addressFamily(normalised) };
}

/** Events that arrive before the pipeline installed its handlers, replayed in order by `setHandlers`. */
type EarlyEvent = { kind: "data"; chunk: Uint8Array } | { kind: "end" } | { kind: "close"; error?: Error };

class BunTcpConnection implements TcpConnection {
  /** read from Bun on first use: each of Bun's address and port getters is a getsockname or getpeername */
  private localAddress: AddressInfo | undefined;
  private remoteAddress: AddressInfo | undefined;
  private handlers: TcpHandlers | undefined;
  private early: EarlyEvent[] | undefined = [];
  /** unsent tails, each our own copy; `queued` is their byte total */
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private drainWanted = false;
  private endWanted = false;
  private finSent = false;
  private peerEnded = false;
  private closed = false;
  private destroyed = false;
  private userPaused = false;
  /** whether Bun's socket is paused: each pause or resume is an epoll_ctl, so repeats are skipped */
  private socketPaused = false;

  /**
   * `local`: the listener's own address when it is bound to one (not a wildcard), saving two getsockname.
   * `readAddresses`: read both now (accepted connections, whose addresses the pipeline reads, possibly after
   * the client is gone); an outbound connection reads them at first use, as the pipeline does not read an
   * upstream's addresses: four syscalls fewer per connect.
   */
  constructor(
    private readonly socket: BunSocket,
    local: AddressInfo | undefined,
    readAddresses: boolean,
  ) {
    this.localAddress = local;
    if (readAddresses) {
      this.localAddress ??= addressInfo(socket.localAddress ?? "", socket.localPort ?? 0);
      this.remoteAddress = addressInfo(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    }
  }

  /** Bun has no addresses for a closed socket: read then, they are "" and 0 */
  get local(): AddressInfo {
    this.localAddress ??= addressInfo(this.socket.localAddress ?? "", this.socket.localPort ?? 0);
    return this.localAddress;
  }

  get remote(): AddressInfo {
    this.remoteAddress ??= addressInfo(this.socket.remoteAddress ?? "", this.socket.remotePort ?? 0);
    return this.remoteAddress;
  }

  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (!this.socketPaused) return;
    this.socketPaused = false;
    this.socket.resume();
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  setHandlers(handlers: TcpHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = undefined;
    if (early !== undefined && early.length > 0) {
      for (const event of early) {
        if (event.kind === "data") handlers.onData(event.chunk);
        else if (event.kind === "end") handlers.onEnd();
        else handlers.onClose(event.error);
      }
    }
    if (!this.closed && !this.userPaused) this.resumeSocket();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed || this.finSent || this.endWanted) return false;
    if (this.queued === 0) {
      const written = this.socket.write(chunk);
      if (written === chunk.length) return true;
      // Copy only the tail the kernel did not take: the caller may reuse its buffer after we return.
      const taken = Math.max(written, 0);
      this.queue.push(chunk.slice(taken));
      this.queued = chunk.length - taken;
    } else {
      this.queue.push(chunk.slice());
      this.queued += chunk.length;
    }
    if (this.queued <= WRITE_HIGH_WATER_BYTES) return true;
    this.drainWanted = true;
    return false;
  }

  end(): void {
    if (this.closed || this.endWanted) return;
    this.endWanted = true;
    if (this.queued === 0) this.sendFin();
  }

  destroy(): void {
    if (this.closed || this.destroyed) return;
    this.destroyed = true;
    this.queue.length = 0;
    this.queued = 0;
    this.socket.terminate();
  }

  pause(): void {
    this.userPaused = true;
    this.pauseSocket();
  }

  resume(): void {
    this.userPaused = false;
    if (this.handlers !== undefined && !this.closed) this.resumeSocket();
  }

  /** Bun `data` */
  received(chunk: Uint8Array): void {
    if (this.handlers !== undefined) {
      // Bun gives every read its own buffer and never writes to it again (checked: 132 reads kept
      // unchanged over 64 MiB), so a node:net upstream may keep it without a copy
      deliveringFreshChunk(chunk);
      this.handlers.onData(chunk);
    } else {
      // Handlers come late (the caller waits for something first): keep this chunk and stop reading
      // until setHandlers, so at most one read is held. Not paused from the start: a caller that sets
      // its handlers at once (the gateway) would pay a pause and a resume per connection for nothing.
      this.early?.push({ kind: "data", chunk: chunk.slice() });
      this.pauseSocket();
    }
  }

  /** Bun `end`: the peer sent FIN */
  peerFinished(): void {
    if (this.peerEnded) return;
    this.peerEnded = true;
    if (this.handlers !== undefined) this.handlers.onEnd();
    else this.early?.push({ kind: "end" });
  }

  /** Bun `drain`: the kernel takes bytes again */
  flush(): void {
    const queue = this.queue;
    while (queue.length > 0) {
      const head = queue[0]!;
      const written = this.socket.write(head);
      if (written < 0) return;
      this.queued -= written;
      if (written < head.length) {
        queue[0] = head.subarray(written);
        return;
      }
      queue.shift();
    }
    if (this.endWanted && !this.finSent) this.sendFin();
    if (this.drainWanted && !this.closed) {
      this.drainWanted = false;
      this.handlers?.onDrain();
    }
  }

  /** Bun `close` */
  gone(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    let closeError = error === undefined ? undefined : peerResetError(withCode(error, "ECONNRESET"));
    // Bun can report a peer's reset as `end` then a clean `close`: bytes still unsent prove it was not clean
    // (a half-closed session would otherwise wait on this side until its idle timeout).
    if (closeError === undefined && !this.destroyed && (this.queued > 0 || (this.endWanted && !this.finSent))) {
      closeError = codedError(`connection reset by peer with ${this.queued} bytes unsent`, "ECONNRESET");
    }
    this.queue.length = 0;
    this.queued = 0;
    // Bun reports a clean close without an `end` when our FIN went out first: the peer's FIN is implied.
    if (closeError === undefined && !this.peerEnded && !this.destroyed && this.finSent) this.peerFinished();
    if (this.handlers !== undefined) this.handlers.onClose(closeError);
    else this.early?.push({ kind: "close", error: closeError });
  }

  private sendFin(): void {
    this.finSent = true;
    // shutdown() with no argument is shutdown(2) SHUT_WR: FIN out, reading goes on (allowHalfOpen).
    this.socket.shutdown();
  }
}

/** One handler table for every socket: Bun calls it with the socket, whose `data` is our connection. */
const tcpHandlers: BunApi.SocketHandler<BunTcpConnection | undefined> = {
  data(socket, chunk) {
    socket.data?.received(chunk);
  },
  end(socket) {
    socket.data?.peerFinished();
  },
  drain(socket) {
    socket.data?.flush();
  },
  close(socket, error) {
    socket.data?.gone(error);
  },
  error(socket, error) {
    socket.data?.gone(error);
  },
};

/**
 * Whether a listener on `host` accepts on that one address, so it is every accepted connection's local
 * address: an IP literal that is not a wildcard (a name may resolve to several; a scoped IPv6 address
 * is left to getsockname).
 */
function boundToOneAddress(host: string): boolean {
  return isIP(host) !== 0 && host !== "0.0.0.0" && host !== "::" && !host.includes("%");
}

function listenHandlers(
  onConnection: (connection: TcpConnection) => void,
  local: (() => AddressInfo | undefined) | undefined,
): BunApi.SocketHandler<BunTcpConnection | undefined> {
  return {
    ...tcpHandlers,
    open(socket) {
      const connection = new BunTcpConnection(socket, local?.(), true);
      socket.data = connection;
      onConnection(connection);
    },
  };
}

/**
 * Bun.connect attempts that may be outstanding at once, connecting or given up on. Bun.connect cannot be
 * cancelled: a connect that timed out keeps its SYN-SENT socket and fd until the kernel gives up (~130 s
 * with tcp_syn_retries 6), and Bun hands over the socket only once it is connected. Beyond this many,
 * connects go through Bun's `node:net`, whose `destroy()` closes a connecting socket; so nodes that drop
 * SYNs hold at most this many fds of the gateway, while connects that answer take Bun's own path, ~25%
 * less CPU per connection (docs/performance.md, round four). A loopback connect is pending for well under
 * a millisecond, so a few dozen are outstanding at most; with upstreams further away more of them take
 * the `node:net` path, which is as correct, only dearer.
 */
const UNCANCELLABLE_CONNECT_LIMIT = 64;

/**
 * One Bun.connect: settles the caller's promise once, and when the caller gave up first (timeout), closes
 * the socket as soon as Bun reports it connected, giving its slot back either way.
 */
class BunConnectAttempt {
  private state: "connecting" | "settled" | "abandoned" = "connecting";
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly options: TcpConnectOptions,
    private readonly resolve: (connection: TcpConnection) => void,
    private readonly reject: (error: Error) => void,
    private readonly release: () => void,
    /** called when the attempt times out, with its options */
    private readonly abandoned: (options: TcpConnectOptions) => void,
  ) {
    this.timer = setTimeout(() => this.timedOut(), options.timeoutMs);
  }

  private timedOut(): void {
    if (this.state !== "connecting") return;
    this.state = "abandoned";
    this.abandoned(this.options);
    this.reject(codedError(`connect to ${this.options.host}:${this.options.port} timed out`, "ETIMEDOUT"));
  }

  /** Bun `open` of a connecting socket */
  connected(socket: BunSocket): void {
    if (this.state === "abandoned") {
      // settled from here on, so a later rejection of Bun.connect's promise cannot give the slot back twice
      this.state = "settled";
      socket.terminate();
      this.release();
      return;
    }
    if (this.state !== "connecting") return;
    this.state = "settled";
    clearTimeout(this.timer);
    this.release();
    const connection = new BunTcpConnection(socket, undefined, false);
    socket.data = connection;
    this.resolve(connection);
  }

  /** the promise of Bun.connect rejected (refused, unreachable, a name that does not resolve) */
  failed(error: unknown): void {
    if (this.state === "settled") return;
    const abandoned = this.state === "abandoned";
    this.state = "settled";
    clearTimeout(this.timer);
    this.release();
    if (!abandoned) this.reject(withCode(error, "ECONNREFUSED"));
  }
}

/**
 * A `Bun.listen` listener. Bun's accept loop spins a core while the fd table is full (it ignores EMFILE),
 * so the listener is paused at the fd limit and listens again on the same port once fds are free
 * (runtime/node/fd-limit-pause.ts).
 */
class BunTcpListener implements TcpListener, PausableListener {
  readonly address: AddressInfo;
  private listener: BunApi.TcpListener | undefined;
  private closed = false;
  private readonly unwatch: () => void;

  constructor(
    listener: BunApi.TcpListener,
    private readonly open: (port: number) => BunApi.TcpListener,
  ) {
    this.listener = listener;
    this.address = addressInfo(listener.hostname, listener.port);
    this.unwatch = processFdLimitPause.watch(this);
  }

  pause(): void {
    // stop(false): stop accepting, leave established connections alone.
    this.listener?.stop(false);
    this.listener = undefined;
  }

  async resume(): Promise<void> {
    if (this.closed || this.listener) return;
    this.listener = this.open(this.address.port);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unwatch();
    this.pause();
  }
}

class BunUdpSocket implements UdpSocket {
  readonly address: AddressInfo;
  constructor(
    private readonly socket: BunApi.UdpSocket,
    private readonly onError: UdpErrorHandler | undefined,
  ) {
    this.address = addressInfo(socket.address.address, socket.address.port);
  }
  send(data: Uint8Array, port: number, host: string): void {
    try {
      this.socket.send(data, port, host);
    } catch (error) {
      // UDP semantics: a datagram that cannot be sent is dropped.
      this.onError?.(withCode(error, "EINVAL"));
    }
  }
  close(): void {
    this.socket.close();
  }
}

export function createBunSocketAdapter(): SocketAdapter {
  const outbound = createNodeSocketAdapter();
  /** Bun.connect attempts connecting or given up on, at most UNCANCELLABLE_CONNECT_LIMIT */
  let bunConnects = 0;
  const releaseBunConnect = () => {
    bunConnects--;
  };
  /**
   * `host:port` of destinations whose Bun.connect timed out, connected through `node:net` until one of
   * those connects succeeds: a node that drops SYNs (and its health checks) then uses up one slot, not all
   * of them, and the healthy nodes keep Bun's path.
   */
  const silentDestinations = new Set<string>();
  const markSilent = (options: TcpConnectOptions) => {
    silentDestinations.add(`${options.host}:${options.port}`);
  };
  const connectCancellably = (options: TcpConnectOptions, destination: string): Promise<TcpConnection> =>
    outbound.connectTcp(options).then((connection) => {
      silentDestinations.delete(destination);
      return connection;
    });
  const adapter: SocketAdapter = {
    name: "bun-native",
    runtime: `bun ${Bun.version}`,

    async listenTcp(options: TcpListenOptions, onConnection: (connection: TcpConnection) => void) {
      let bound: AddressInfo | undefined;
      const handlers = listenHandlers(onConnection, boundToOneAddress(options.host) ? () => bound : undefined);
      const open = (port: number) =>
        Bun.listen<BunTcpConnection | undefined>({
          hostname: options.host,
          port,
          allowHalfOpen: true,
          reusePort: options.reusePort === true,
          socket: handlers,
        });
      try {
        const listener = new BunTcpListener(open(options.port), open);
        bound = listener.address;
        return listener;
      } catch (error) {
        throw withCode(error, "EADDRNOTAVAIL");
      }
    },

    uncancellableConnectLimit: UNCANCELLABLE_CONNECT_LIMIT,

    connectTcp(options: TcpConnectOptions): Promise<TcpConnection> {
      if (silentDestinations.size > 0) {
        const destination = `${options.host}:${options.port}`;
        if (silentDestinations.has(destination)) return connectCancellably(options, destination);
      }
      if (bunConnects >= UNCANCELLABLE_CONNECT_LIMIT) return outbound.connectTcp(options);
      bunConnects++;
      return new Promise<TcpConnection>((resolve, reject) => {
        const attempt = new BunConnectAttempt(options, resolve, reject, releaseBunConnect, markSilent);
        try {
          Bun.connect<BunTcpConnection | undefined>({
            hostname: options.host,
            port: options.port,
            allowHalfOpen: true,
            socket: {
              ...tcpHandlers,
              open(socket) {
                attempt.connected(socket);
              },
            },
          }).then(undefined, (error: unknown) => attempt.failed(error));
        } catch (error) {
          // options Bun refuses at once (a port out of range)
          attempt.failed(error);
        }
      });
    },

    async bindUdp(
      options: UdpBindOptions,
      onMessage: UdpMessageHandler,
      onError?: UdpErrorHandler,
    ): Promise<UdpSocket> {
      // Bun.udpSocket has no SO_REUSEPORT option; Bun's node:dgram has one, so a listener that shares its
      // port with other workers (`--workers`) is bound through it.
      if (options.reusePort === true) return outbound.bindUdp(options, onMessage, onError);
      // the last sender, reused while datagrams come from the same peer (a session's node, a client)
      let senderAddress = "";
      let sender = addressInfo("0.0.0.0", 0);
      try {
        const socket = await Bun.udpSocket({
          hostname: options.host,
          port: options.port,
          socket: {
            data(_socket, data, port, address) {
              if (port !== sender.port || address !== senderAddress) {
                senderAddress = address;
                sender = addressInfo(address, port);
              }
              onMessage(data, sender);
            },
            // Bun reads ICMP errors (IP_RECVERR): a send to a closed port comes back as ECONNREFUSED on
            // `recv`. Without this handler Bun throws it as an uncaught error and the process exits.
            error(_socket, error) {
              onError?.(withCode(error, "ECONNREFUSED"));
            },
          },
        });
        return new BunUdpSocket(socket, onError);
      } catch (error) {
        throw withCode(error, "EADDRNOTAVAIL");
      }
    },

    // node:tls over the adapter's own connection: the runtime has no server-side TLS upgrade of an
    // accepted socket (docs/runtimes.md)
    startServerTls,

    // TLS to upstreams stays on Bun's node:net socket, which node:tls takes as it is: over a Bun.connect
    // connection it would run over a Duplex (docs/runtimes.md), and the handshake outweighs the connect.
    connectTls: (options: TcpConnectOptions, tls: TlsClientOptions): Promise<TcpConnection> =>
      outbound.connectTls(options, tls),
  };
  return adapter;
}
