/**
 * TCP on Node's libuv handles (`TCP`, `WriteWrap`, `ShutdownWrap` of `process.binding("tcp_wrap")` and
 * `"stream_wrap"`) instead of `net.Socket`. A `net.Socket` is a full `stream.Duplex` (two stream states,
 * an EventEmitter, its listeners, a timer slot) built for every accepted and every upstream connection;
 * the gateway needs none of it, only read → write with backpressure. On the bench's new-connection
 * workload a bare `net` + `pipe()` proxy made 7.1–7.8k connections/s and the same proxy on these handles
 * 14.2–15.5k (docs/performance.md, "Node on libuv handles").
 *
 * These bindings are Node's internals: `process.binding` is deprecated (DEP0111, documentation only) and
 * the handles' shape is not a public contract. So `tcpHandleBindings()` probes every function used here
 * at start and answers undefined when one is missing (a future Node, or Bun and Deno, whose node-compat
 * layers also load this adapter); the adapter then uses `net.Socket` as before. `SLUICE_NODE_SOCKETS=net`
 * forces that path. The conformance suite runs both (`node` and `node-net`).
 *
 * Reads start as Node's own: each read gives a fresh ArrayBuffer that is never reused, so a chunk can be
 * written to the other side without a copy, as on `net.Socket`. A connection whose full reads (64 KiB)
 * are relayed straight into another handle connection moves to a read buffer of its own
 * (`useUserBuffer`), reused read after read: a fresh 64 KiB allocation per read (page faults on new
 * memory, external-memory GC) cost more CPU per byte than the copies through the kernel (see
 * `deliver`). Reading starts when the pipeline installs its handlers, so nothing needs queueing before that.
 */
import dns from "node:dns";
import net from "node:net";
import { constants } from "node:os";
import {
  type AddressInfo,
  addressFamily,
  normaliseAddress,
  peerResetError,
  type TcpConnection,
  type TcpConnectOptions,
  type TcpHandlers,
} from "../../src/proxy/adapter.ts";
import { isFreshChunk, markFreshChunk } from "./fresh-chunk.ts";
import { uvError } from "./uv-error.ts";

/** The part of a libuv stream handle this file uses (src/stream_base.cc, src/tcp_wrap.cc). */
interface TcpHandle {
  /** a buffer returned while reads go into a user buffer is where the next read goes */
  onread: (this: TcpHandle, buffer: ArrayBuffer | undefined) => Uint8Array | undefined;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  /** reads go into `buffer` from now on (a stream listener pushed on the handle; there is no undoing it) */
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: WriteRequest, data: Uint8Array): number;
  shutdown(req: ShutdownRequest): number;
  close(callback?: (this: TcpHandle) => void): void;
  reset(callback?: (this: TcpHandle) => void): number;
  setNoDelay(enable: boolean): number;
  getpeername(out: Partial<AddressInfo>): number;
  getsockname(out: Partial<AddressInfo>): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  [OWNER]?: HandleTcpConnection;
}

interface WriteRequest {
  handle: TcpHandle;
  oncomplete: (this: WriteRequest, status: number) => void;
  async: boolean;
  /** keeps the bytes alive while libuv still points at them */
  buffer: Uint8Array | null;
  [OWNER]?: HandleTcpConnection;
}

interface ShutdownRequest {
  handle: TcpHandle;
  oncomplete: (this: ShutdownRequest, status: number) => void;
  [OWNER]?: HandleTcpConnection;
}

interface ConnectRequest {
  oncomplete: (this: ConnectRequest, status: number) => void;
  address: string;
  port: number;
  [OWNER]?: HandleConnect;
}

export interface TcpHandleBindings {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => ConnectRequest;
  readonly WriteWrap: new () => WriteRequest;
  readonly ShutdownWrap: new () => ShutdownRequest;
  readonly SOCKET: number;
  /** `streamBaseState`: what the last read or write left, indexed by the three below */
  readonly state: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  readonly kLastWriteWasAsync: number;
  /** whether the handles take a user read buffer (`useUserBuffer`); without it reads stay Node's own */
  readonly userReadBuffers: boolean;
}

const OWNER = Symbol("sluice.connection");
/** libuv reports errors as negative errno values of the platform */
const UV_ENOTCONN = -constants.errno.ENOTCONN;
const UV_ECONNRESET = -constants.errno.ECONNRESET;
/** libuv's UV_EOF, the same number on every platform */
const UV_EOF = -4095;
/**
 * Bytes queued in libuv above which `write` says stop: one full read (64 KiB), so a single large chunk
 * the kernel could not take at once does not pause the source by itself.
 */
const HIGH_WATER = 64 * 1024;
/**
 * libuv's read size, so a read of this many bytes filled Node's buffer; also the size of a connection's
 * own read buffer. Bare handle proxy, iperf3 1 stream: 16 KiB 1.15–1.23 ns of CPU a byte, 32 KiB
 * 0.87–0.92, 64 KiB 0.63–0.65 (Node's fresh buffers 1.64–1.84; nginx with 16 KiB 0.73–0.85).
 */
const READ_SIZE = 64 * 1024;

/**
 * The chunk being handed to `onData` and the connection that read it, during that call only: `write`
 * takes such a chunk without a copy and tells its reader whether the bytes were kept (an async write).
 */
let deliveringChunk: Buffer | undefined;
let deliveringFrom: HandleTcpConnection | undefined;

let probed: TcpHandleBindings | undefined | null = null;

/** Node's libuv TCP bindings, or undefined where they are missing or differ from what is used here. */
export function tcpHandleBindings(): TcpHandleBindings | undefined {
  if (probed !== null) return probed;
  probed = undefined;
  if (process.versions.bun !== undefined || process.versions.deno !== undefined) return undefined;
  if (process.env.SLUICE_NODE_SOCKETS === "net") return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding("tcp_wrap") as { TCP?: unknown; TCPConnectWrap?: unknown; constants?: { SOCKET?: unknown } };
    const stream = binding("stream_wrap") as Record<string, unknown>;
    const TCP = tcp.TCP as (new (type: number) => TcpHandle) | undefined;
    const methods = ["readStart", "readStop", "writeBuffer", "shutdown", "close", "reset", "setNoDelay"];
    const more = ["getpeername", "getsockname", "connect", "connect6"];
    if (typeof TCP !== "function" || typeof tcp.TCPConnectWrap !== "function") return undefined;
    if (![...methods, ...more].every((m) => typeof (TCP.prototype as Record<string, unknown>)[m] === "function")) {
      return undefined;
    }
    const state = stream.streamBaseState;
    const indexes = [stream.kReadBytesOrError, stream.kArrayBufferOffset, stream.kLastWriteWasAsync];
    if (!(state instanceof Int32Array) || !indexes.every((i) => typeof i === "number")) return undefined;
    if (typeof stream.WriteWrap !== "function" || typeof stream.ShutdownWrap !== "function") return undefined;
    if (typeof tcp.constants?.SOCKET !== "number") return undefined;
    const userReadBuffers = typeof (TCP.prototype as Record<string, unknown>).useUserBuffer === "function";
    probed = {
      TCP,
      TCPConnectWrap: tcp.TCPConnectWrap as new () => ConnectRequest,
      WriteWrap: stream.WriteWrap as new () => WriteRequest,
      ShutdownWrap: stream.ShutdownWrap as new () => ShutdownRequest,
      SOCKET: tcp.constants.SOCKET,
      state,
      kReadBytesOrError: stream.kReadBytesOrError as number,
      kArrayBufferOffset: stream.kArrayBufferOffset as number,
      kLastWriteWasAsync: stream.kLastWriteWasAsync as number,
      userReadBuffers,
    };
  } catch {
    probed = undefined;
  }
  return probed;
}

function addressOfHandle(handle: TcpHandle, which: "getpeername" | "getsockname"): AddressInfo | undefined {
  const out: Partial<AddressInfo> = {};
  if (handle[which](out) !== 0 || out.address === undefined) return undefined;
  const address = normaliseAddress(out.address);
  return { address, port: out.port ?? 0, family: addressFamily(address) };
}

const NO_ADDRESS: AddressInfo = { address: "", port: 0, family: "IPv4" };

/**
 * `onread` of every handle: `this` is the handle, the figures are in `streamBaseState`; `buffer` is
 * undefined when the read went into the connection's own buffer. What it returns is where the next read
 * goes (used only once reads go into a user buffer).
 */
function onHandleRead(this: TcpHandle, buffer: ArrayBuffer | undefined): Uint8Array | undefined {
  const connection = this[OWNER];
  if (connection === undefined) return undefined;
  const b = connection.bindings;
  const nread = b.state[b.kReadBytesOrError] as number;
  if (nread > 0) return connection.deliver(buffer, b.state[b.kArrayBufferOffset] as number, nread);
  if (nread === UV_EOF) connection.readEnded();
  else if (nread < 0) connection.fail(uvError(nread, "read"));
  return undefined;
}

function onWriteComplete(this: WriteRequest, status: number): void {
  const connection = this[OWNER];
  this.buffer = null;
  if (connection === undefined) return;
  if (status < 0) connection.fail(peerResetError(uvError(status, "write")));
  else connection.writeCompleted();
}

function onShutdownComplete(this: ShutdownRequest, status: number): void {
  const connection = this[OWNER];
  if (connection === undefined) return;
  if (status < 0 && status !== UV_ENOTCONN /* the peer is gone already */) {
    connection.fail(peerResetError(uvError(status, "shutdown")));
  } else connection.writeEnded();
}

/** the close callback of every handle: Node calls it with the handle as `this` */
function onHandleClosed(this: TcpHandle): void {
  this[OWNER]?.reportClose();
}

export class HandleTcpConnection implements TcpConnection {
  handlers: TcpHandlers | undefined;
  private localInfo: AddressInfo | undefined;
  private paused = false;
  private reading = false;
  private readDone = false;
  private shutdownSent = false;
  private writeDone = false;
  private needDrain = false;
  /** set once the handle is closing: nothing more is read, written or reported but `onClose` */
  private closing = false;
  private closeReported = false;
  private closedBeforeHandlers = false;
  private error: Error | undefined;
  /** the connection's own read buffer once it relays full reads; before that, Node's fresh buffer per read */
  private readBuffer: Buffer | undefined;
  /** during a delivery: a write kept (part of) the read buffer, so the next read needs another one */
  private readBufferKept = false;
  /** during a delivery: a full fresh read went straight into a write, so this connection relays bulk */
  private relaysFullReads = false;

  constructor(
    private readonly handle: TcpHandle,
    readonly bindings: TcpHandleBindings,
    readonly remote: AddressInfo,
  ) {
    handle[OWNER] = this;
    handle.onread = onHandleRead;
    handle.setNoDelay(true);
  }

  // read on first use: a getsockname syscall that most connections never need
  get local(): AddressInfo {
    this.localInfo ??= addressOfHandle(this.handle, "getsockname") ?? NO_ADDRESS;
    return this.localInfo;
  }

  setHandlers(handlers: TcpHandlers): void {
    this.handlers = handlers;
    if (this.closedBeforeHandlers) {
      this.reportClose();
      return;
    }
    this.updateReading();
  }

  /**
   * One read of `nread` bytes, in `buffer` at `offset` or, when that is undefined, in the connection's own
   * read buffer. Returns the buffer the next read goes into when that changes.
   *
   * A chunk of the own buffer is lent to `onData`: a write of it that went async (the kernel took part
   * of it) leaves libuv pointing into the buffer until it completes, so the next read then goes into a new
   * buffer and the kept one is dropped once its write is done (req.buffer holds it until then). That is
   * rare on a bulk relay (0.2% of reads through a bare handle proxy on iperf3) and copies nothing.
   */
  deliver(buffer: ArrayBuffer | undefined, offset: number, nread: number): Uint8Array | undefined {
    const own = this.readBuffer;
    let chunk: Buffer;
    if (own !== undefined) chunk = nread === own.byteLength ? own : own.subarray(0, nread);
    else if (buffer !== undefined) {
      chunk = Buffer.from(buffer, offset, nread);
      markFreshChunk(chunk);
    } else return undefined;
    deliveringChunk = chunk;
    deliveringFrom = this;
    try {
      this.handlers?.onData(chunk);
    } finally {
      deliveringChunk = undefined;
      deliveringFrom = undefined;
    }
    if (this.readBufferKept) {
      this.readBufferKept = false;
      this.readBuffer = Buffer.allocUnsafeSlow(READ_SIZE);
      return this.readBuffer;
    }
    if (this.relaysFullReads) {
      this.relaysFullReads = false;
      if (own === undefined && !this.closing && this.bindings.userReadBuffers) {
        // from the next read on; the handle keeps this buffer for its life (64 KiB a relaying direction)
        this.readBuffer = Buffer.allocUnsafeSlow(READ_SIZE);
        this.handle.useUserBuffer(this.readBuffer);
      }
    }
    return undefined;
  }

  write(chunk: Uint8Array): boolean {
    if (this.closing || this.shutdownSent) return true;
    const b = this.bindings;
    // The chunk a handle connection is delivering now (its own read buffer or a fresh read) goes to the
    // kernel as it is; so does any other fresh read (never reused); any other chunk may be reused once we
    // return (the contract), so it is copied.
    const reader = chunk === deliveringChunk ? deliveringFrom : undefined;
    const data = reader !== undefined || isFreshChunk(chunk) ? chunk : Buffer.from(chunk);
    const req = new b.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = onWriteComplete;
    req.async = false;
    req.buffer = null;
    const status = this.handle.writeBuffer(req, data);
    if (status !== 0) {
      this.fail(peerResetError(uvError(status, "write")));
      return true;
    }
    const async = b.state[b.kLastWriteWasAsync] !== 0;
    if (reader !== undefined) reader.relayed(data, async);
    if (async) {
      req.buffer = data;
      req[OWNER] = this;
      if (this.handle.writeQueueSize >= HIGH_WATER) {
        this.needDrain = true;
        return false;
      }
    }
    return true;
  }

  /** a chunk this connection is delivering went straight into a write; `kept`: libuv still points at it */
  relayed(chunk: Uint8Array, kept: boolean): void {
    if (this.readBuffer !== undefined) {
      if (kept && chunk.buffer === this.readBuffer.buffer) this.readBufferKept = true;
    } else if (chunk.byteLength === READ_SIZE) this.relaysFullReads = true;
  }

  /** an async write finished; the queue may have gone below the mark */
  writeCompleted(): void {
    if (this.closing || !this.needDrain || this.handle.writeQueueSize >= HIGH_WATER) return;
    this.needDrain = false;
    this.handlers?.onDrain();
  }

  end(): void {
    if (this.closing || this.shutdownSent) return;
    this.shutdownSent = true;
    const req = new this.bindings.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = onShutdownComplete;
    req[OWNER] = this;
    // libuv sends the FIN once the queued writes are out
    const status = this.handle.shutdown(req);
    if (status !== 0) this.writeEnded();
  }

  /** the FIN went out (or could not: the peer is gone) */
  writeEnded(): void {
    this.writeDone = true;
    if (this.readDone) this.closeHandle(false);
  }

  /** the peer's FIN */
  readEnded(): void {
    if (this.closing) return;
    this.readDone = true;
    this.reading = false;
    this.handlers?.onEnd();
    if (this.writeDone) this.closeHandle(false);
  }

  fail(error: Error): void {
    if (this.closing) return;
    this.error ??= error;
    this.closeHandle(true);
  }

  destroy(): void {
    if (this.closing) return;
    this.closeHandle(true);
  }

  pause(): void {
    this.paused = true;
    this.updateReading();
  }

  resume(): void {
    this.paused = false;
    this.updateReading();
  }

  get bufferedAmount(): number {
    return this.closing ? 0 : this.handle.writeQueueSize;
  }

  private updateReading(): void {
    const want = this.handlers !== undefined && !this.paused && !this.readDone && !this.closing;
    if (want === this.reading) return;
    this.reading = want;
    if (want) this.handle.readStart();
    else this.handle.readStop();
  }

  /** `reset`: RST, the peer sees an abort (and unsent bytes are dropped); otherwise a clean close */
  private closeHandle(reset: boolean): void {
    if (this.closing) return;
    this.closing = true;
    this.reading = false;
    if (!reset || this.handle.reset(onHandleClosed) !== 0) this.handle.close(onHandleClosed);
  }

  /** the handle is closed (its close callback): `onClose` once handlers are there */
  reportClose(): void {
    this.handle[OWNER] = undefined;
    const handlers = this.handlers;
    if (handlers === undefined) {
      this.closedBeforeHandlers = true;
      return;
    }
    if (this.closeReported) return;
    this.closeReported = true;
    handlers.onClose(this.error);
  }

  /**
   * Hands the kernel socket to a layer that wants a `net.Socket` (a `TLSSocket` runs TLS in C++ on its
   * handle): stops reading, forgets the handle, and puts `replay` (what was read so far) in front.
   * Undefined for a connection that reads into its own buffer (`net.Socket` expects Node's reads; the
   * caller then layers over the connection instead): only one that relayed full reads has one, and TLS
   * takes its connections before any relaying.
   */
  detachSocket(replay: Uint8Array | undefined): net.Socket | undefined {
    if (this.readBuffer !== undefined) return undefined;
    this.closing = true;
    this.closeReported = true;
    if (this.reading) this.handle.readStop();
    this.reading = false;
    // net.Socket installs its own `onread` on the handle
    this.handle[OWNER] = undefined;
    const socket = new net.Socket({
      handle: this.handle,
      allowHalfOpen: true,
      pauseOnCreate: true,
      readable: true,
      writable: true,
    } as net.SocketConstructorOpts);
    if (replay !== undefined && replay.byteLength > 0) socket.unshift(Buffer.from(replay));
    return socket;
  }
}

/** A connection for a handle the listener accepted; undefined (and the handle closed) when it is gone already. */
function acceptedConnection(handle: TcpHandle, bindings: TcpHandleBindings): HandleTcpConnection | undefined {
  const remote = addressOfHandle(handle, "getpeername");
  if (remote === undefined) {
    handle.close();
    return undefined;
  }
  return new HandleTcpConnection(handle, bindings, remote);
}

/**
 * Makes `server` hand accepted connections to `onConnection` as handle connections. Set after every
 * listen: `net.Server` calls the listening handle's `onconnection` with each accepted handle (in a cluster
 * worker the shared socket's handle, or under `NODE_CLUSTER_SCHED_POLICY=rr` the stand-in handle the
 * primary's connections arrive on), and this takes it before a `net.Socket` is built.
 */
export function acceptHandles(
  server: net.Server,
  bindings: TcpHandleBindings,
  onConnection: (connection: TcpConnection) => void,
): void {
  const listening = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
  if (listening === undefined) throw new Error("the listener has no handle to take connections from");
  listening.onconnection = (status: number, handle: TcpHandle | undefined) => {
    // accept() errors (EMFILE, …) lose one connection, never the listener
    if (status !== 0 || handle === undefined) return;
    const connection = acceptedConnection(handle, bindings);
    if (connection !== undefined) onConnection(connection);
  };
}

/** `net.isIP` of recent hosts: a regular expression per connect otherwise, for the same few node addresses */
const familyOfHost = new Map<string, number>();
const FAMILY_CACHE_LIMIT = 1024;

function ipFamily(host: string): number {
  let family = familyOfHost.get(host);
  if (family === undefined) {
    family = net.isIP(host);
    if (familyOfHost.size >= FAMILY_CACHE_LIMIT) familyOfHost.clear();
    familyOfHost.set(host, family);
  }
  return family;
}

/**
 * One outgoing connect: its request's completion and its timer find it through the request (`OWNER`)
 * and the timer's argument, so a connect builds no closures of its own.
 */
class HandleConnect {
  readonly handle: TcpHandle;
  private settled = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly options: TcpConnectOptions,
    private readonly bindings: TcpHandleBindings,
    private readonly resolve: (connection: TcpConnection) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.handle = new bindings.TCP(bindings.SOCKET);
    this.timer = setTimeout(onConnectTimeout, options.timeoutMs, this);
  }

  connectTo(address: string, family: number): void {
    if (this.settled) return;
    const port = this.options.port;
    const req = new this.bindings.TCPConnectWrap();
    req.oncomplete = onConnectComplete;
    req.address = address;
    req.port = port;
    req[OWNER] = this;
    const status = family === 6 ? this.handle.connect6(req, address, port) : this.handle.connect(req, address, port);
    if (status !== 0) this.settle(uvError(status, "connect"));
  }

  timedOut(): void {
    const { host, port } = this.options;
    this.settle(Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: "ETIMEDOUT" }));
  }

  settle(error: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    const handle = this.handle;
    if (error !== undefined) {
      handle.close();
      this.reject(error);
      return;
    }
    const remote = addressOfHandle(handle, "getpeername");
    if (remote === undefined) {
      handle.close();
      this.reject(uvError(UV_ECONNRESET, "connect"));
    } else this.resolve(new HandleTcpConnection(handle, this.bindings, remote));
  }
}

function onConnectTimeout(attempt: HandleConnect): void {
  attempt.timedOut();
}

function onConnectComplete(this: ConnectRequest, status: number): void {
  const attempt = this[OWNER];
  this[OWNER] = undefined;
  attempt?.settle(status === 0 ? undefined : uvError(status, "connect"));
}

/** Connects to an IP literal, or to the first address a host name resolves to. */
export function connectHandle(options: TcpConnectOptions, bindings: TcpHandleBindings): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    const attempt = new HandleConnect(options, bindings, resolve, reject);
    const family = ipFamily(options.host);
    if (family !== 0) attempt.connectTo(options.host, family);
    else {
      dns.lookup(options.host, (error, address, resolvedFamily) => {
        if (error) attempt.settle(Object.assign(error, { code: error.code ?? "ENOTFOUND" }));
        else attempt.connectTo(address, resolvedFamily);
      });
    }
  });
}
