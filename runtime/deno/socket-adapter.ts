/**
 * Deno socket adapter on Deno's own API (`Deno.listen`, `Deno.connect`, `Deno.listenDatagram`, the last
 * behind `--unstable-net`).
 *
 * Deno's connections are promise-based (`conn.read(buffer)`, `conn.write(bytes)`); the pipeline wants
 * callbacks. Each connection runs one read loop that hands `onData` a view of its buffer, and one write
 * pump over a queue (a promise-based write keeps the bytes until it settles, and the caller's chunk is
 * valid only during `write`): a chunk of another connection's read takes that read's buffer over, any
 * other chunk is copied. `write` returns false above a high-water mark and
 * `onDrain` fires once the queue is below it again. `pause()` stops the read loop after the read in
 * flight, so a slow reader pushes back through TCP. The per-chunk promise is Deno's API, not ours: the
 * measurements in docs/runtimes.md compare this adapter with Deno's `node:net` layer.
 */
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
import { startClientTls, startServerTls } from "../node/tls-layer.ts";

/**
 * Each connection always has one read pending, which holds its buffer: an idle connection would keep a
 * 64 KiB buffer per side (measured ~114 KiB per idle proxied connection). So reads start with a small
 * buffer, switch to a large one when a read fills the small one (bulk traffic), and go back after
 * SHRINK_AFTER_READS reads that would have fitted the small one. The small one is 1 KiB: with 4 KiB an idle
 * proxied connection cost 26.7 KiB of RSS, with 1 KiB 20.9 KiB (2,000 idle connections through `sluice
 * gateway`, docs/performance.md); requests and replies of request/response protocols mostly fit in it.
 */
const SMALL_READ_BUFFER_BYTES = 1024;
const LARGE_READ_BUFFER_BYTES = 64 * 1024;
const SHRINK_AFTER_READS = 8;
const WRITE_HIGH_WATER_BYTES = 256 * 1024;
const MAX_DATAGRAM_BYTES = 65_536;
/** waits between failed accepts (EMFILE): short at first, bounded so a freed fd is used soon */
const ACCEPT_RETRY_MIN_MS = 10;
const ACCEPT_RETRY_MAX_MS = 500;

/**
 * Read buffers of closed connections, reused by new ones: allocating (and zeroing) 64 KiB for each
 * side of each connection was a visible cost at thousands of short connections per second.
 */
const spareReadBuffers = { small: [] as Uint8Array[], large: [] as Uint8Array[] };
const MAX_SPARE_READ_BUFFERS = 256;

function takeReadBuffer(large: boolean): Uint8Array {
  const pool = large ? spareReadBuffers.large : spareReadBuffers.small;
  return pool.pop() ?? new Uint8Array(large ? LARGE_READ_BUFFER_BYTES : SMALL_READ_BUFFER_BYTES);
}

function returnReadBuffer(buffer: Uint8Array): void {
  const pool = buffer.byteLength === LARGE_READ_BUFFER_BYTES ? spareReadBuffers.large : spareReadBuffers.small;
  if (pool.length < MAX_SPARE_READ_BUFFERS) pool.push(buffer);
}

/**
 * The read buffer a read loop is lending to `onData` while that call runs. A write of a view of it (the
 * pipeline's hot path writes each chunk straight to the other side) keeps the whole buffer instead of
 * copying the chunk, and the read loop takes another buffer from the pool for its next read; the buffer
 * goes back to the pool once the write queue it sits in has been written. Saves a copy of every chunk:
 * 64 KiB per read on bulk transfers.
 */
const lending = { buffer: undefined as Uint8Array | undefined, taken: false };

/**
 * UDP receive buffers. Every socket keeps one receive pending, and a receive needs room for the largest
 * datagram (64 KiB): one `Uint8Array` each cost its full 64 KiB of RSS even on an idle session (3,000
 * sessions: +205 MB). So each socket gets a 64 KiB slice of a slab that is one large allocation, which the
 * C allocator maps fresh (mmap): its pages are not resident until the kernel writes a datagram into
 * them, so a slice costs the pages its datagrams touched (4 KiB for a DNS answer), not 64 KiB. A slab is
 * dropped, and its memory returned, once none of its slices is in use (the first slab stays).
 */
const SLICES_PER_SLAB = 1024;
interface DatagramSlab {
  readonly memory: ArrayBuffer;
  readonly free: number[];
}
const datagramSlabs = new Map<ArrayBuffer, DatagramSlab>();

function takeDatagramBuffer(): Uint8Array {
  let slab: DatagramSlab | undefined;
  for (const candidate of datagramSlabs.values()) {
    if (candidate.free.length > 0) {
      slab = candidate;
      break;
    }
  }
  if (slab === undefined) {
    const memory = new ArrayBuffer(SLICES_PER_SLAB * MAX_DATAGRAM_BYTES);
    slab = { memory, free: Array.from({ length: SLICES_PER_SLAB }, (_, i) => SLICES_PER_SLAB - 1 - i) };
    datagramSlabs.set(memory, slab);
  }
  const index = slab.free.pop()!;
  return new Uint8Array(slab.memory, index * MAX_DATAGRAM_BYTES, MAX_DATAGRAM_BYTES);
}

function releaseDatagramBuffer(buffer: Uint8Array): void {
  const slab = datagramSlabs.get(buffer.buffer as ArrayBuffer);
  if (slab === undefined) return;
  slab.free.push(buffer.byteOffset / MAX_DATAGRAM_BYTES);
  if (slab.free.length === SLICES_PER_SLAB && datagramSlabs.size > 1) datagramSlabs.delete(slab.memory);
}

/**
 * Copies of outgoing datagrams. A send is asynchronous and holds its bytes until done, while the bytes
 * handed to `send` are valid only during the call (a received datagram's buffer takes the next datagram
 * at once), so each send needs a copy. Allocating one (`data.slice()`, a new ArrayBuffer per datagram)
 * cost ~2.5 µs of gateway CPU per proxied DNS query, 15% (docs/performance.md); a copy into a slot taken
 * from this pool and given back when the send settles costs a closure. Slots are carved from shared
 * 128 KiB blocks; a datagram larger than a slot is copied the old way.
 */
const SEND_SLOT_BYTES = 2048;
const SEND_SLOTS_PER_BLOCK = 64;
const MAX_FREE_SEND_SLOTS = 1024;
const freeSendSlots: Uint8Array[] = [];

function takeSendSlot(): Uint8Array {
  const slot = freeSendSlots.pop();
  if (slot !== undefined) return slot;
  const block = new ArrayBuffer(SEND_SLOT_BYTES * SEND_SLOTS_PER_BLOCK);
  for (let i = 1; i < SEND_SLOTS_PER_BLOCK; i++) {
    freeSendSlots.push(new Uint8Array(block, i * SEND_SLOT_BYTES, SEND_SLOT_BYTES));
  }
  return new Uint8Array(block, 0, SEND_SLOT_BYTES);
}

function giveBackSendSlot(slot: Uint8Array): void {
  if (freeSendSlots.length < MAX_FREE_SEND_SLOTS) freeSendSlots.push(slot);
}

/** Deno errors carry `code` (ECONNREFUSED, EADDRINUSE, …) already; make sure every error we pass on does. */
function withCode(error: unknown, fallbackCode: string): Error {
  if (error instanceof Error) {
    const coded = error as Error & { code?: unknown };
    if (typeof coded.code !== "string") coded.code = fallbackCode;
    return error;
  }
  const wrapped = new Error(String(error)) as Error & { code: string };
  wrapped.code = fallbackCode;
  return wrapped;
}

function codedError(message: string, code: string): Error {
  const error = new Error(message) as Error & { code: string };
  error.code = code;
  return error;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}

function addressInfo(address: Deno.Addr): AddressInfo {
  const net = address as Deno.NetAddr;
  const normalised = normaliseAddress(net.hostname);
  return { address: normalised, port: net.port, family: addressFamily(normalised) };
}

/** A read or write that failed because we closed the connection ourselves: not an error to report. */
function closedByUs(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

class DenoTcpConnection implements TcpConnection {
  readonly local: AddressInfo;
  readonly remote: AddressInfo;
  private handlers: TcpHandlers | undefined;
  private readonly queue: Uint8Array[] = [];
  /** read buffers taken from `lending` whose bytes are in `queue`; back to the pool once it is written */
  private readonly taken: Uint8Array[] = [];
  private queued = 0;
  private writing = false;
  private drainWanted = false;
  private endWanted = false;
  private finSent = false;
  private peerEnded = false;
  private closed = false;
  private closeError: Error | undefined;
  private paused = false;
  private wake: (() => void) | undefined;
  /** the read loop has started (it starts once, at the first moment the connection is not paused) */
  private reading = false;

  constructor(private readonly conn: Deno.TcpConn) {
    this.local = addressInfo(conn.localAddr);
    this.remote = addressInfo(conn.remoteAddr);
    conn.setNoDelay(true);
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  setHandlers(handlers: TcpHandlers): void {
    const first = this.handlers === undefined;
    this.handlers = handlers;
    // A connection destroyed before it had handlers still owes its one onClose.
    if (this.closed) handlers.onClose(this.closeError);
    // Reading starts only now, so nothing can be delivered before the handlers exist; and one microtask
    // later, so that a caller that pauses at once (the gateway, until its upstream is connected) issues
    // no read yet. A read issued before the client's bytes arrive waits in Deno's reactor, and cost
    // ~14 µs of CPU per connection against a first read that finds them already there.
    else if (first) queueMicrotask(() => this.startReading());
  }

  private startReading(): void {
    if (this.reading || this.paused || this.closed) return;
    this.reading = true;
    void this.readLoop();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed || this.endWanted) return false;
    const lent = lending.buffer;
    if (lent !== undefined && !lending.taken && chunk.buffer === lent.buffer) {
      lending.taken = true;
      this.taken.push(lent);
      this.queue.push(chunk);
    } else this.queue.push(chunk.slice());
    this.queued += chunk.length;
    if (!this.writing) void this.pump();
    if (this.queued < WRITE_HIGH_WATER_BYTES) return true;
    this.drainWanted = true;
    return false;
  }

  end(): void {
    if (this.closed || this.endWanted) return;
    this.endWanted = true;
    if (!this.writing) this.sendFin();
  }

  destroy(): void {
    this.finish(undefined);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const wake = this.wake;
    this.wake = undefined;
    if (wake !== undefined) wake();
    else if (this.handlers !== undefined) this.startReading();
  }

  private async readLoop(): Promise<void> {
    let buffer = takeReadBuffer(false);
    /** false while onData runs: a write may take the buffer over (then it is not ours to return) */
    let owned = true;
    let smallReads = 0;
    try {
      while (!this.closed) {
        if (this.paused) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        const count = await this.conn.read(buffer);
        if (this.closed) return;
        if (count === null) {
          this.peerEnded = true;
          this.handlers?.onEnd();
          if (this.finSent && !this.writing) this.finish(undefined);
          return;
        }
        lending.buffer = buffer;
        lending.taken = false;
        owned = false;
        try {
          this.handlers?.onData(buffer.subarray(0, count));
        } finally {
          lending.buffer = undefined;
        }
        const taken = lending.taken;
        owned = true;
        let large = buffer.byteLength === LARGE_READ_BUFFER_BYTES;
        if (!large && count === buffer.byteLength) {
          large = true;
          smallReads = 0;
        } else if (large && count <= SMALL_READ_BUFFER_BYTES) {
          if (++smallReads >= SHRINK_AFTER_READS) {
            large = false;
            smallReads = 0;
          }
        } else smallReads = 0;
        if (taken) buffer = takeReadBuffer(large);
        else if (large !== (buffer.byteLength === LARGE_READ_BUFFER_BYTES)) {
          returnReadBuffer(buffer);
          buffer = takeReadBuffer(large);
        }
      }
    } catch (error) {
      this.finish(closedByUs(error) ? undefined : peerResetError(withCode(error, "ECONNRESET")));
    } finally {
      // The loop is over, so no read holds the buffer and no onData view of it outlives its call
      if (owned) returnReadBuffer(buffer);
    }
  }

  private async pump(): Promise<void> {
    this.writing = true;
    const queue = this.queue;
    try {
      while (queue.length > 0 && !this.closed) {
        // One write op for everything queued meanwhile: each Deno write is an async op round trip.
        if (queue.length > 1) {
          queue.splice(0, queue.length, concat(queue, this.queued));
          this.returnTaken();
        }
        const head = queue[0]!;
        const written = await this.conn.write(head);
        this.queued -= written;
        if (written < head.length) queue[0] = head.subarray(written);
        else queue.shift();
        if (queue.length === 0) this.returnTaken();
        if (this.drainWanted && this.queued < WRITE_HIGH_WATER_BYTES && !this.closed) {
          this.drainWanted = false;
          this.handlers?.onDrain();
        }
      }
    } catch (error) {
      this.finish(closedByUs(error) ? undefined : peerResetError(withCode(error, "EPIPE")));
      return;
    } finally {
      this.writing = false;
    }
    if (this.endWanted && !this.finSent && !this.closed) this.sendFin();
  }

  /** no write in flight holds them: the queue was copied or written */
  private returnTaken(): void {
    const taken = this.taken;
    for (const buffer of taken) returnReadBuffer(buffer);
    taken.length = 0;
  }

  private sendFin(): void {
    this.finSent = true;
    this.conn.closeWrite().then(
      () => {
        if (this.peerEnded) this.finish(undefined);
      },
      (error: unknown) => this.finish(closedByUs(error) ? undefined : peerResetError(withCode(error, "EPIPE"))),
    );
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.queue.length = 0;
    // not back to the pool: a write op still in flight may read them until it fails
    this.taken.length = 0;
    this.queued = 0;
    try {
      this.conn.close();
    } catch {
      // already closed by Deno after an error
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    this.handlers?.onClose(error);
  }
}

class DenoTcpListener implements TcpListener {
  readonly address: AddressInfo;
  private closing = false;
  private accepting: Promise<void> = Promise.resolve();
  constructor(private readonly listener: Deno.TcpListener) {
    this.address = addressInfo(listener.addr);
  }
  start(onConnection: (connection: TcpConnection) => void): void {
    this.accepting = this.acceptLoop(onConnection);
  }
  private async acceptLoop(onConnection: (connection: TcpConnection) => void): Promise<void> {
    let delay = 0;
    while (!this.closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.listener.accept();
      } catch (error) {
        if (this.closing || closedByUs(error)) return;
        // A failed accept (EMFILE, a reset before accept) must not stop the listener, and must not spin
        // either: at the fd limit every accept fails at once, so wait (growing, bounded) before the next.
        delay = Math.min(Math.max(delay * 2, ACCEPT_RETRY_MIN_MS), ACCEPT_RETRY_MAX_MS);
        await new Promise((resume) => setTimeout(resume, delay));
        continue;
      }
      delay = 0;
      let connection: DenoTcpConnection;
      try {
        connection = new DenoTcpConnection(conn);
      } catch {
        // reset between accept and here: no addresses, nothing to proxy
        conn.close();
        continue;
      }
      onConnection(connection);
    }
  }
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.listener.close();
    // The port is released only once the pending accept has been cancelled.
    await this.accepting;
  }
}

class DenoUdpSocket implements UdpSocket {
  readonly address: AddressInfo;
  private closed = false;
  constructor(
    private readonly socket: Deno.DatagramConn,
    private readonly onError: UdpErrorHandler | undefined,
  ) {
    this.address = addressInfo(socket.addr);
  }
  async receiveLoop(onMessage: UdpMessageHandler): Promise<void> {
    const buffer = takeDatagramBuffer();
    try {
      while (!this.closed) {
        try {
          const [data, from] = await this.socket.receive(buffer);
          onMessage(data, addressInfo(from));
        } catch (error) {
          if (this.closed || closedByUs(error)) return;
          // ICMP port unreachable from an earlier send shows up here on Linux: keep receiving.
          this.onError?.(withCode(error, "ECONNREFUSED"));
        }
      }
    } finally {
      // the loop is over, so no receive holds the buffer
      releaseDatagramBuffer(buffer);
    }
  }
  send(data: Uint8Array, port: number, host: string): void {
    if (this.closed) return;
    const destination = { transport: "udp", hostname: host, port } as const;
    // The send is asynchronous and the caller's bytes are valid only during this call: send a copy.
    if (data.byteLength > SEND_SLOT_BYTES) {
      this.socket.send(data.slice(), destination).then(undefined, this.sendFailed);
      return;
    }
    const slot = takeSendSlot();
    slot.set(data);
    this.socket.send(slot.subarray(0, data.byteLength), destination).then(
      () => giveBackSendSlot(slot),
      (error: unknown) => {
        giveBackSendSlot(slot);
        this.sendFailed(error);
      },
    );
  }

  /** UDP semantics: a datagram that cannot be sent is dropped */
  private readonly sendFailed = (error: unknown): void => {
    if (!this.closed && !closedByUs(error)) this.onError?.(withCode(error, "EINVAL"));
  };
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

export function createDenoSocketAdapter(): SocketAdapter {
  const adapter: SocketAdapter = {
    name: "deno-native",
    runtime: `deno ${Deno.version.deno}`,

    async listenTcp(options: TcpListenOptions, onConnection: (connection: TcpConnection) => void) {
      let listener: Deno.TcpListener;
      try {
        listener = Deno.listen({
          transport: "tcp",
          hostname: options.host,
          port: options.port,
          reusePort: options.reusePort === true,
        });
      } catch (error) {
        throw withCode(error, "EADDRNOTAVAIL");
      }
      const tcpListener = new DenoTcpListener(listener);
      tcpListener.start(onConnection);
      return tcpListener;
    },

    connectTcp(options: TcpConnectOptions): Promise<TcpConnection> {
      return new Promise<TcpConnection>((resolve, reject) => {
        let timedOut = false;
        // Aborting closes the connecting socket: without it a SYN nobody answers holds an fd for minutes.
        const abort = new AbortController();
        const timer = setTimeout(() => {
          timedOut = true;
          abort.abort();
          reject(codedError(`connect to ${options.host}:${options.port} timed out`, "ETIMEDOUT"));
        }, options.timeoutMs);
        Deno.connect({ transport: "tcp", hostname: options.host, port: options.port, signal: abort.signal }).then(
          (conn) => {
            clearTimeout(timer);
            if (timedOut) {
              conn.close();
              return;
            }
            resolve(new DenoTcpConnection(conn));
          },
          (error: unknown) => {
            clearTimeout(timer);
            if (!timedOut) reject(withCode(error, "ECONNREFUSED"));
          },
        );
      });
    },

    async bindUdp(
      options: UdpBindOptions,
      onMessage: UdpMessageHandler,
      onError?: UdpErrorHandler,
    ): Promise<UdpSocket> {
      let socket: Deno.DatagramConn;
      try {
        socket = Deno.listenDatagram({
          transport: "udp",
          hostname: options.host,
          port: options.port,
          reuseAddress: options.reusePort === true,
        });
      } catch (error) {
        throw withCode(error, "EADDRNOTAVAIL");
      }
      const udpSocket = new DenoUdpSocket(socket, onError);
      void udpSocket.receiveLoop(onMessage);
      return udpSocket;
    },

    // node:tls over the adapter's own connection: the runtime has no server-side TLS upgrade of an
    // accepted socket (docs/runtimes.md)
    startServerTls,

    async connectTls(options: TcpConnectOptions, tls: TlsClientOptions): Promise<TcpConnection> {
      return startClientTls(await adapter.connectTcp(options), tls, options.timeoutMs);
    },
  };
  return adapter;
}
