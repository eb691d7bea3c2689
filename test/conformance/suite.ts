/**
 * Adapter conformance suite: what every `SocketAdapter` must do, checked against the adapter itself
 * (both ends of each connection go through it). Runtime-neutral: it runs under node, bun and deno and
 * uses no test framework, only the tiny runner at the bottom (one line per check).
 */
import { readFileSync } from "node:fs";
import type {
  AddressInfo,
  SocketAdapter,
  TcpConnection,
  TcpHandlers,
  TcpListener,
  TlsServerIdentity,
  UdpSocket,
} from "../../src/proxy/adapter.ts";
import {
  CA_CERT,
  CLIENT_CERT,
  CLIENT_KEY,
  SERVER_CERT,
  SERVER_KEY,
  STRANGER_CERT,
  STRANGER_KEY,
} from "./tls-fixtures.ts";

export interface SuiteOptions {
  /** a loopback port whose accept queue is full, so a SYN gets no answer (for the connect timeout check) */
  blackholePort?: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

const CHECK_TIMEOUT_MS = 20_000;

class Failure extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Failure(message);
}

function equal<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Failure(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Records what a connection delivers; `received` are copies (the adapter may reuse its chunk). */
/** Byte `i` of a pattern stream is `i % 251`: a shifted, repeated or reused chunk shows as a wrong byte. */
function fillPattern(chunk: Uint8Array, offset: number): void {
  for (let i = 0; i < chunk.length; i++) chunk[i] = (offset + i) % 251;
}

/** Reads a pattern stream of `total` bytes, noting the first byte out of order; `done` once all arrived. */
class PatternReader implements TcpHandlers {
  received = 0;
  outOfOrder = -1;
  readonly done = deferred();

  constructor(private readonly total: number) {}

  onData(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== (this.received + i) % 251 && this.outOfOrder < 0) this.outOfOrder = this.received + i;
    }
    this.received += chunk.length;
    if (this.received >= this.total) this.done.resolve();
  }

  onEnd(): void {}
  onDrain(): void {}
  onClose(): void {}
}

class Recorder implements TcpHandlers {
  readonly chunks: Uint8Array[] = [];
  bytes = 0;
  ended = deferred();
  closed = deferred<Error | undefined>();
  drains = 0;
  didEnd = false;
  didClose = false;
  closedTwice = false;
  order: string[] = [];
  private waiters: { bytes: number; resolve(): void }[] = [];
  drained: (() => void) | undefined;

  constructor(private readonly keep = true) {}

  onData(chunk: Uint8Array): void {
    if (this.keep) this.chunks.push(chunk.slice());
    this.bytes += chunk.length;
    if (this.order[this.order.length - 1] !== "data") this.order.push("data");
    this.waiters = this.waiters.filter((waiter) => {
      if (this.bytes < waiter.bytes) return true;
      waiter.resolve();
      return false;
    });
  }
  onEnd(): void {
    this.didEnd = true;
    this.order.push("end");
    this.ended.resolve();
  }
  onDrain(): void {
    this.drains++;
    this.drained?.();
  }
  onClose(error?: Error): void {
    if (this.didClose) this.closedTwice = true;
    this.didClose = true;
    this.order.push("close");
    this.closed.resolve(error);
  }
  text(): string {
    return new TextDecoder().decode(concat(this.chunks));
  }
  waitBytes(bytes: number): Promise<void> {
    if (this.bytes >= bytes) return Promise.resolve();
    const { promise, resolve } = deferred();
    this.waiters.push({ bytes, resolve });
    return promise;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

const encode = (text: string) => new TextEncoder().encode(text);

/** Resources a check opened, closed whatever happens. */
class Scope {
  private readonly listeners: TcpListener[] = [];
  private readonly connections: TcpConnection[] = [];
  private readonly udp: UdpSocket[] = [];
  listener(listener: TcpListener): TcpListener {
    this.listeners.push(listener);
    return listener;
  }
  connection(connection: TcpConnection): TcpConnection {
    this.connections.push(connection);
    return connection;
  }
  udpSocket(socket: UdpSocket): UdpSocket {
    this.udp.push(socket);
    return socket;
  }
  async close(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    for (const socket of this.udp) socket.close();
    await Promise.allSettled(this.listeners.map((listener) => listener.close()));
  }
}

/** A listener that hands out its accepted connections in order, with handlers installed on demand. */
async function acceptor(adapter: SocketAdapter, scope: Scope, host = "127.0.0.1") {
  const accepted: TcpConnection[] = [];
  const waiting: ((connection: TcpConnection) => void)[] = [];
  const listener = scope.listener(
    await adapter.listenTcp({ host, port: 0 }, (connection) => {
      scope.connection(connection);
      const waiter = waiting.shift();
      if (waiter) waiter(connection);
      else accepted.push(connection);
    }),
  );
  const next = (): Promise<TcpConnection> => {
    const ready = accepted.shift();
    if (ready) return Promise.resolve(ready);
    const { promise, resolve } = deferred<TcpConnection>();
    waiting.push(resolve);
    return within(promise, 5000, "accept");
  };
  return { listener, next };
}

async function connectTo(adapter: SocketAdapter, scope: Scope, address: AddressInfo, host = address.address) {
  return scope.connection(await adapter.connectTcp({ host, port: address.port, timeoutMs: 5000 }));
}

/** A connected pair through the adapter, each side's events recorded (`keep`: keep the bytes). */
async function connectedPair(adapter: SocketAdapter, scope: Scope, keep = true) {
  const { listener, next } = await acceptor(adapter, scope);
  const client = await connectTo(adapter, scope, listener.address);
  const server = await next();
  const serverSide = new Recorder(keep);
  server.setHandlers(serverSide);
  const clientSide = new Recorder(keep);
  client.setHandlers(clientSide);
  return { listener, client, server, clientSide, serverSide };
}

const SERVER_IDENTITY: TlsServerIdentity = {
  pairs: [{ cert: SERVER_CERT, key: SERVER_KEY }],
  protocols: ["TLSv1.2", "TLSv1.3"],
};

/**
 * A TLS pair through the adapter: the accepted side reads the first chunk as the SNI peek would, then
 * starts the server handshake with it replayed; the connecting side is `connectTls`.
 */
async function tlsPair(
  adapter: SocketAdapter,
  scope: Scope,
  identity: TlsServerIdentity,
  client: { cert?: string; key?: string; ca?: string } = {},
) {
  const { listener, next } = await acceptor(adapter, scope);
  const server = deferred<TcpConnection>();
  const accepted = next().then((raw) => {
    raw.setHandlers({
      onData(chunk) {
        raw.pause();
        adapter
          .startServerTls(raw, { identity, replay: chunk.slice(), timeoutMs: 5000 })
          .then(server.resolve, server.reject);
      },
      onEnd() {},
      onDrain() {},
      onClose() {},
    });
  });
  const connecting = adapter.connectTls(
    { host: "127.0.0.1", port: listener.address.port, timeoutMs: 5000 },
    { servername: "tls.test", verify: true, ca: client.ca ?? CA_CERT, cert: client.cert, key: client.key },
  );
  const [clientResult, serverResult] = await Promise.allSettled([connecting, server.promise, accepted]);
  if (clientResult.status === "fulfilled") scope.connection(clientResult.value);
  if (serverResult.status === "fulfilled") scope.connection(serverResult.value);
  return { clientResult, serverResult };
}

/**
 * Writes `total` bytes to a reader that reads in short bursts and checks the pattern on arrival. With
 * `scribble`, the writer overwrites its chunk right after each `write`, as a pipeline reusing a read
 * buffer would: the adapter must have copied whatever it kept.
 */
async function slowReader(
  adapter: SocketAdapter,
  scope: Scope,
  total: number,
  scribble: boolean,
  pair: () => Promise<{ client: TcpConnection; server: TcpConnection }> = async () => {
    const { listener, next } = await acceptor(adapter, scope);
    const client = await connectTo(adapter, scope, listener.address);
    return { client, server: await next() };
  },
): Promise<void> {
  const chunkSize = 64 * 1024;
  const { client, server } = await pair();
  // The reader checks the byte pattern as it goes and reads in short bursts.
  const pattern = new PatternReader(total);
  server.setHandlers(pattern);
  server.pause();
  const reader = setInterval(() => {
    server.resume();
    setTimeout(() => server.pause(), 2);
  }, 10);
  const clientSide = new Recorder();
  client.setHandlers(clientSide);
  const chunk = new Uint8Array(chunkSize);
  let sent = 0;
  let refusals = 0;
  let maxBuffered = 0;
  let maxAhead = 0;
  try {
    while (sent < total) {
      fillPattern(chunk, sent);
      const accepted = client.write(chunk);
      sent += chunkSize;
      // Scribble over the chunk: the adapter must have copied what it kept.
      if (scribble) chunk.fill(0);
      maxBuffered = Math.max(maxBuffered, client.bufferedAmount);
      maxAhead = Math.max(maxAhead, sent - pattern.received);
      if (!accepted) {
        refusals++;
        const drained = deferred();
        clientSide.drained = () => drained.resolve();
        await within(drained.promise, 10_000, `onDrain after ${sent} bytes`);
      }
    }
    await within(pattern.done.promise, 15_000, `reader got ${pattern.received} of ${total}`);
  } finally {
    clearInterval(reader);
  }
  equal(pattern.outOfOrder, -1, "first byte out of order");
  equal(pattern.received, total, "bytes received");
  check(refusals > 0, "write never returned false although the reader was slow");
  check(clientSide.drains >= refusals, `onDrain fired ${clientSide.drains} times for ${refusals} refusals`);
  check(maxBuffered <= 4 * 1024 * 1024, `adapter buffered up to ${maxBuffered} bytes`);
  // what the writer was let write beyond what the reader got: the adapter's buffer, the runtime's
  // (TLS records included) and the kernel's (a few MiB on loopback), never the whole transfer
  check(maxAhead <= 16 * 1024 * 1024, `the writer got ${maxAhead} bytes ahead of the reader`);
}

/** How many loopback IPv4 sockets on this machine are in SYN-SENT towards `port` (Linux /proc/net/tcp). */
function synSentTo(port: number): number {
  const wanted = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let count = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // fields: sl local_address rem_address st …; st 02 is SYN_SENT
    if (fields[2]?.endsWith(wanted) && fields[3] === "02") count++;
  }
  return count;
}

/** A UDP port that was bound a moment ago and is closed now: nothing listens on it. */
async function closedUdpPort(adapter: SocketAdapter): Promise<number> {
  const socket = await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, () => {});
  const port = socket.address.port;
  socket.close();
  await sleep(20);
  return port;
}

type Check = (adapter: SocketAdapter, options: SuiteOptions, scope: Scope) => Promise<void>;

const checks: [string, Check][] = [
  [
    "listen on port 0 reports the real port",
    async (adapter, _options, scope) => {
      const { listener } = await acceptor(adapter, scope);
      check(listener.address.port > 0, `port is ${listener.address.port}`);
      equal(listener.address.address, "127.0.0.1", "listen address");
      equal(listener.address.family, "IPv4", "listen family");
    },
  ],
  [
    "connect and echo both ways",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope);
      const client = await connectTo(adapter, scope, listener.address);
      const server = await next();
      server.setHandlers({
        onData: (chunk) => {
          server.write(chunk);
        },
        onEnd: () => server.end(),
        onDrain: () => {},
        onClose: () => {},
      });
      const clientSide = new Recorder();
      client.setHandlers(clientSide);
      client.write(encode("hello "));
      client.write(encode("sluice"));
      await within(clientSide.waitBytes(12), 5000, "echo");
      equal(clientSide.text(), "hello sluice", "echoed text");
      client.end();
      await within(clientSide.ended.promise, 5000, "echo server end");
      equal(await within(clientSide.closed.promise, 5000, "close after both ends"), undefined, "close error");
    },
  ],
  [
    "addresses on IPv4: each side sees the other",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope);
      const client = await connectTo(adapter, scope, listener.address);
      const server = await next();
      equal(client.remote.address, "127.0.0.1", "client remote address");
      equal(client.remote.port, listener.address.port, "client remote port");
      equal(client.remote.family, "IPv4", "client remote family");
      equal(server.remote.address, "127.0.0.1", "server remote address");
      equal(server.remote.port, client.local.port, "server remote port = client local port");
      equal(server.local.port, listener.address.port, "server local port");
      equal(server.local.family, "IPv4", "server local family");
    },
  ],
  [
    "addresses on IPv6 ::1",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope, "::1");
      equal(listener.address.address, "::1", "listen address");
      equal(listener.address.family, "IPv6", "listen family");
      const client = await connectTo(adapter, scope, listener.address);
      const server = await next();
      equal(server.remote.address, "::1", "server remote address");
      equal(server.remote.family, "IPv6", "server remote family");
      equal(server.remote.port, client.local.port, "server remote port");
      equal(client.remote.address, "::1", "client remote address");
    },
  ],
  [
    "IPv4 client on a dual-stack :: listener is seen as plain IPv4",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope, "::");
      await connectTo(adapter, scope, listener.address, "127.0.0.1");
      const server = await next();
      equal(server.remote.address, "127.0.0.1", "server remote address (::ffff: prefix removed)");
      equal(server.remote.family, "IPv4", "server remote family");
      equal(server.local.address, "127.0.0.1", "server local address");
    },
  ],
  [
    "events before setHandlers are delivered after it, in order",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope);
      const client = await connectTo(adapter, scope, listener.address);
      client.setHandlers(new Recorder());
      const server = await next();
      client.write(encode("early"));
      client.end();
      await sleep(100);
      const serverSide = new Recorder();
      server.setHandlers(serverSide);
      await within(serverSide.ended.promise, 5000, "early end");
      equal(serverSide.text(), "early", "early data");
      equal(serverSide.order.join(","), "data,end", "event order");
    },
  ],
  [
    "destroy before setHandlers still delivers one onClose",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope);
      const client = await connectTo(adapter, scope, listener.address);
      const clientSide = new Recorder();
      client.setHandlers(clientSide);
      const server = await next();
      server.destroy();
      const serverSide = new Recorder();
      server.setHandlers(serverSide);
      await within(serverSide.closed.promise, 5000, "onClose of a connection destroyed before setHandlers");
      await within(Promise.race([clientSide.ended.promise, clientSide.closed.promise]), 5000, "peer end/close");
      await sleep(50);
      check(!serverSide.closedTwice, "onClose called twice");
    },
  ],
  [
    "half-close: client ends first, server keeps writing",
    async (adapter, _options, scope) => {
      const { client, server, clientSide, serverSide } = await connectedPair(adapter, scope);
      client.write(encode("request"));
      client.end();
      await within(serverSide.ended.promise, 5000, "server onEnd");
      equal(serverSide.text(), "request", "request bytes");
      check(!serverSide.didClose, "server closed on the peer's FIN (allowHalfOpen missing)");
      await sleep(50);
      server.write(encode("late "));
      server.write(encode("reply"));
      await within(clientSide.waitBytes(10), 5000, "reply after the client's FIN");
      server.end();
      await within(clientSide.ended.promise, 5000, "client onEnd");
      equal(clientSide.text(), "late reply", "reply bytes");
      await within(Promise.all([clientSide.closed.promise, serverSide.closed.promise]), 5000, "both close");
      equal(clientSide.order.join(","), "data,end,close", "client event order");
      check(!clientSide.closedTwice && !serverSide.closedTwice, "onClose called twice");
    },
  ],
  [
    "half-close: server ends first, client keeps writing",
    async (adapter, _options, scope) => {
      const { client, server, clientSide, serverSide } = await connectedPair(adapter, scope);
      server.write(encode("banner"));
      server.end();
      await within(clientSide.ended.promise, 5000, "client onEnd");
      equal(clientSide.text(), "banner", "banner bytes");
      client.write(encode("still here"));
      await within(serverSide.waitBytes(10), 5000, "data after the server's FIN");
      equal(serverSide.text(), "still here", "client bytes");
      client.end();
      await within(Promise.all([clientSide.closed.promise, serverSide.closed.promise]), 5000, "both close");
      check(serverSide.didEnd, "server saw no onEnd before onClose");
    },
  ],
  [
    "backpressure: 32 MiB to a slow reader, bounded buffer, onDrain, all bytes in order",
    (adapter, _options, scope) => slowReader(adapter, scope, 32 * 1024 * 1024, false),
  ],
  [
    "write keeps its own copy of unsent bytes (the caller reuses its chunk)",
    (adapter, _options, scope) => slowReader(adapter, scope, 8 * 1024 * 1024, true),
  ],
  [
    // the pipeline's hot path: a chunk from one connection's onData written straight into another one of
    // the same adapter, which may keep it without a copy (Node's fresh reads, Deno's lent read buffers)
    "relay: chunks read from one connection and written to another arrive intact behind a slow reader",
    (adapter, _options, scope) =>
      slowReader(adapter, scope, 16 * 1024 * 1024, true, async () => {
        const front = await acceptor(adapter, scope);
        const back = await acceptor(adapter, scope);
        const sender = await connectTo(adapter, scope, front.listener.address);
        const inbound = await front.next();
        const outbound = await connectTo(adapter, scope, back.listener.address);
        inbound.setHandlers({
          onData(chunk) {
            if (!outbound.write(chunk)) inbound.pause();
          },
          onEnd() {},
          onDrain() {},
          onClose() {},
        });
        outbound.setHandlers({
          onData() {},
          onEnd() {},
          onDrain() {
            inbound.resume();
          },
          onClose() {},
        });
        return { client: sender, server: await back.next() };
      }),
  ],
  [
    // A relay that keeps reading while its sink queues: every chunk it writes stays queued in the sink
    // while the source reads on, so an adapter that lends its read buffer (Node's handles once they relay
    // full reads, Deno's pool) must read into another buffer while a queued write still points at one.
    "relay without backpressure: every chunk queued in the sink arrives intact while the source reads on",
    async (adapter, _options, scope) => {
      const total = 16 * 1024 * 1024;
      const front = await acceptor(adapter, scope);
      const back = await acceptor(adapter, scope);
      const sender = await connectTo(adapter, scope, front.listener.address);
      const inbound = await front.next();
      const outbound = await connectTo(adapter, scope, back.listener.address);
      const receiver = await back.next();
      let relayed = 0;
      let refused = 0;
      inbound.setHandlers({
        onData(chunk) {
          relayed += chunk.byteLength;
          if (!outbound.write(chunk)) refused++;
        },
        onEnd() {},
        onDrain() {},
        onClose() {},
      });
      outbound.setHandlers(new Recorder(false));
      const reader = new PatternReader(total);
      receiver.setHandlers(reader);
      // the receiver reads nothing until the relay has taken everything the sender wrote
      receiver.pause();
      const senderSide = new Recorder(false);
      sender.setHandlers(senderSide);
      const chunk = new Uint8Array(64 * 1024);
      for (let sent = 0; sent < total; sent += chunk.length) {
        fillPattern(chunk, sent);
        if (!sender.write(chunk)) {
          const drained = deferred();
          senderSide.drained = () => drained.resolve();
          await within(drained.promise, 10_000, `sender's onDrain after ${sent} bytes`);
        }
      }
      for (let wait = 0; wait < 200 && relayed < total; wait++) await sleep(20);
      equal(relayed, total, "bytes the relay read while its sink queued");
      check(refused > 0, "the sink never said stop although nothing was read from it");
      receiver.resume();
      await within(reader.done.promise, 15_000, `receiver got ${reader.received} of ${total}`);
      equal(reader.outOfOrder, -1, "first byte out of order");
      equal(reader.received, total, "bytes received");
    },
  ],
  [
    "destroy: the peer sees the connection go away",
    async (adapter, _options, scope) => {
      const { client, server, clientSide, serverSide } = await connectedPair(adapter, scope);
      client.write(encode("bye"));
      await within(serverSide.waitBytes(3), 5000, "data before destroy");
      client.destroy();
      await within(clientSide.closed.promise, 5000, "local onClose after destroy");
      // Without SO_LINGER a runtime may send FIN rather than RST: the peer sees end or close at once,
      // and at the latest its next writes fail and close it.
      await within(Promise.race([serverSide.ended.promise, serverSide.closed.promise]), 5000, "peer end/close");
      for (let attempt = 0; attempt < 50 && !serverSide.didClose; attempt++) {
        server.write(encode("nobody listens"));
        await sleep(20);
      }
      check(serverSide.didClose, "the peer stayed open after writing to a destroyed connection");
      check(!clientSide.closedTwice, "onClose called twice");
    },
  ],
  [
    "connect to a closed port fails with ECONNREFUSED",
    async (adapter, _options, scope) => {
      const { listener } = await acceptor(adapter, scope);
      const port = listener.address.port;
      await listener.close();
      const error = await adapter.connectTcp({ host: "127.0.0.1", port, timeoutMs: 5000 }).then(
        (connection) => {
          connection.destroy();
          return undefined;
        },
        (error: unknown) => error as { code?: string },
      );
      check(error !== undefined, "connect succeeded on a closed port");
      equal(error.code, "ECONNREFUSED", "error code");
    },
  ],
  [
    "listen on a taken port fails with EADDRINUSE",
    async (adapter, _options, scope) => {
      const { listener } = await acceptor(adapter, scope);
      const error = await adapter
        .listenTcp({ host: "127.0.0.1", port: listener.address.port }, () => {})
        .then(
          async (second) => {
            await second.close();
            return undefined;
          },
          (error: unknown) => error as { code?: string },
        );
      check(error !== undefined, "second listen on the same port succeeded");
      equal(error.code, "EADDRINUSE", "error code");
    },
  ],
  [
    "listener close keeps established connections",
    async (adapter, _options, scope) => {
      const { listener, next } = await acceptor(adapter, scope);
      const client = await connectTo(adapter, scope, listener.address);
      const server = await next();
      server.setHandlers({
        onData: (chunk) => {
          server.write(chunk);
        },
        onEnd: () => server.end(),
        onDrain: () => {},
        onClose: () => {},
      });
      const clientSide = new Recorder();
      client.setHandlers(clientSide);
      await within(listener.close(), 5000, "listener close");
      client.write(encode("after close"));
      await within(clientSide.waitBytes(11), 5000, "echo after listener close");
      equal(clientSide.text(), "after close", "echo");
      const error = await adapter.connectTcp({ host: "127.0.0.1", port: listener.address.port, timeoutMs: 2000 }).then(
        (connection) => {
          connection.destroy();
          return undefined;
        },
        (error: unknown) => error as { code?: string },
      );
      check(error !== undefined, "a new connection was accepted after close");
    },
  ],
  [
    "UDP: several sockets send and receive through one bound socket",
    async (adapter, _options, scope) => {
      const server = scope.udpSocket(
        await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data, from) => {
          const reply = new Uint8Array(data.length + 1);
          reply.set(data);
          reply[data.length] = 33; // "!"
          server.send(reply, from.port, from.address);
        }),
      );
      check(server.address.port > 0, "UDP port 0 got a real port");
      equal(server.address.family, "IPv4", "UDP family");
      const clients = 4;
      const replies = await Promise.all(
        Array.from({ length: clients }, async (_, index) => {
          const got = deferred<{ text: string; from: AddressInfo }>();
          const client = scope.udpSocket(
            await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data, from) => {
              got.resolve({ text: new TextDecoder().decode(data), from });
            }),
          );
          // UDP may drop: resend a few times until the reply comes (bounded).
          for (let attempt = 0; attempt < 5; attempt++) {
            client.send(encode(`client-${index}`), server.address.port, "127.0.0.1");
            const reply = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
            if (reply) return reply;
          }
          throw new Failure(`client ${index} got no reply`);
        }),
      );
      replies.forEach((reply, index) => {
        equal(reply.text, `client-${index}!`, `reply to client ${index}`);
        equal(reply.from.port, server.address.port, "reply source port");
        equal(reply.from.address, "127.0.0.1", "reply source address");
      });
    },
  ],
  [
    "UDP: a send to a closed port leaves the socket (and the process) working; errors reach onError",
    async (adapter, _options, scope) => {
      const closedPort = await closedUdpPort(adapter);
      const errors: (Error & { code?: string })[] = [];
      const got = deferred<string>();
      const client = scope.udpSocket(
        await adapter.bindUdp(
          { host: "127.0.0.1", port: 0 },
          (data) => got.resolve(new TextDecoder().decode(data)),
          (error) => errors.push(error),
        ),
      );
      // ICMP port unreachable comes back for each of these; runtimes that read it (Bun) report it.
      for (let i = 0; i < 3; i++) {
        client.send(encode("nobody"), closedPort, "127.0.0.1");
        await sleep(30);
      }
      const echo = scope.udpSocket(
        await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data, from) => echo.send(data, from.port, from.address)),
      );
      for (let attempt = 0; attempt < 5; attempt++) {
        client.send(encode("still here"), echo.address.port, "127.0.0.1");
        const reply = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
        if (reply !== undefined) {
          equal(reply, "still here", "echo after the refused sends");
          for (const error of errors) equal(error.code, "ECONNREFUSED", "error code of a refused datagram");
          return;
        }
      }
      throw new Failure("the socket received nothing after sending to a closed port");
    },
  ],
  [
    "UDP: a datagram that cannot be sent (port 0) is reported to onError, not thrown",
    async (adapter, _options, scope) => {
      const failed = deferred<Error & { code?: string }>();
      const socket = scope.udpSocket(
        await adapter.bindUdp(
          { host: "127.0.0.1", port: 0 },
          () => {},
          (error) => failed.resolve(error),
        ),
      );
      socket.send(encode("nowhere"), 0, "127.0.0.1");
      const error = await within(failed.promise, 2000, "onError for a send to port 0");
      check(typeof error.code === "string", `error without a code: ${error.message}`);
    },
  ],
  [
    "TCP: the peer ends then resets while our write is in flight: onClose with ECONNRESET, not a clean close",
    async (adapter, _options, scope) => {
      // The accepted side writes (a gateway replying to its client); the connecting side is the client.
      const { client, server, clientSide, serverSide } = await connectedPair(adapter, scope, false);
      // Bytes the client never reads make its close a reset (RST), on every runtime.
      server.write(new Uint8Array(64 * 1024));
      await within(clientSide.waitBytes(1), 5000, "first bytes at the client");
      client.pause();
      // Fill the kernel buffers until the adapter holds unsent bytes, then reset: those bytes can never be
      // delivered, so the close is an error whatever the runtime says about it.
      const reply = new Uint8Array(256 * 1024);
      for (let i = 0; i < 64; i++) {
        server.write(reply);
        await sleep(2);
      }
      await sleep(100);
      check(server.bufferedAmount > 0, "the adapter holds no unsent bytes although the reader stopped");
      // A client that half-closes, then aborts (FIN, then RST) is the case a runtime may report as a clean end.
      server.pause();
      client.end();
      await sleep(50);
      client.destroy();
      await sleep(50);
      server.resume();
      const error = (await within(serverSide.closed.promise, 5000, "onClose of the writing side")) as
        | (Error & { code?: string })
        | undefined;
      check(error !== undefined, `a reset was reported as a clean close (events: ${serverSide.order.join(",")})`);
      equal(error.code, "ECONNRESET", "error code");
      check(!serverSide.closedTwice, "onClose called twice");
    },
  ],
  [
    "destroy resets the connection: the peer's onClose carries ECONNRESET",
    async (adapter, _options, scope) => {
      // The accepted side is destroyed (a gateway aborting a client connection).
      const { client, server, clientSide, serverSide } = await connectedPair(adapter, scope);
      client.write(encode("abort me"));
      await within(serverSide.waitBytes(8), 5000, "data before destroy");
      server.write(encode("reply"));
      await within(clientSide.waitBytes(5), 5000, "reply before destroy");
      server.destroy();
      if (adapter.name === "deno-native") {
        // Deno cannot set SO_LINGER: the peer sees a FIN, and a reset on its next write (docs/runtimes.md).
        await within(clientSide.ended.promise, 5000, "peer end");
        return;
      }
      const error = (await within(clientSide.closed.promise, 5000, "peer onClose")) as
        | (Error & { code?: string })
        | undefined;
      check(error !== undefined, `the peer saw a clean close, not a reset (events: ${clientSide.order.join(",")})`);
      equal(error.code, "ECONNRESET", "peer error code");
    },
  ],
  [
    "TLS: server handshake on an accepted connection with the peeked bytes replayed; connectTls; bytes both ways; version, cipher and SNI readable",
    async (adapter, _options, scope) => {
      const { clientResult, serverResult } = await tlsPair(adapter, scope, SERVER_IDENTITY);
      if (clientResult.status === "rejected") throw new Failure(`connectTls: ${String(clientResult.reason)}`);
      if (serverResult.status === "rejected") throw new Failure(`startServerTls: ${String(serverResult.reason)}`);
      const client = clientResult.value;
      const server = serverResult.value;
      check(server.tls?.protocol.startsWith("TLSv1."), `server protocol ${server.tls?.protocol}`);
      check((server.tls?.cipher ?? "").length > 0, "server cipher");
      equal(server.tls?.serverName, "tls.test", "SNI seen by the server");
      check(client.tls?.protocol.startsWith("TLSv1."), `client protocol ${client.tls?.protocol}`);
      equal(server.remote.port, client.local.port, "the server side keeps the peer's address");
      const serverSide = new Recorder();
      server.setHandlers(serverSide);
      const clientSide = new Recorder();
      client.setHandlers(clientSide);
      const big = new Uint8Array(256 * 1024).fill(7);
      client.write(encode("ping"));
      client.write(big);
      await within(serverSide.waitBytes(4 + big.length), 5000, "bytes at the TLS server");
      server.write(encode("pong"));
      server.end();
      await within(clientSide.ended.promise, 5000, "end at the TLS client");
      equal(clientSide.text(), "pong", "reply");
    },
  ],
  [
    "TLS backpressure: 32 MiB from the terminating side to a slow reader, bounded buffer (records included), onDrain, all bytes in order",
    (adapter, _options, scope) =>
      slowReader(adapter, scope, 32 * 1024 * 1024, false, async () => {
        const { clientResult, serverResult } = await tlsPair(adapter, scope, SERVER_IDENTITY);
        if (clientResult.status === "rejected") throw new Failure(`connectTls: ${String(clientResult.reason)}`);
        if (serverResult.status === "rejected") throw new Failure(`startServerTls: ${String(serverResult.reason)}`);
        // the terminating side writes, as when a download leaves the gateway
        return { client: serverResult.value, server: clientResult.value };
      }),
  ],
  [
    "TLS: with a client CA, a certificate from it passes; none or another CA's fails with code ETLS",
    async (adapter, _options, scope) => {
      const identity: TlsServerIdentity = { ...SERVER_IDENTITY, client: { ca: CA_CERT, depth: 1 } };
      const good = await tlsPair(adapter, scope, identity, { cert: CLIENT_CERT, key: CLIENT_KEY });
      equal(good.serverResult.status, "fulfilled", "handshake with the CA's client certificate");
      for (const [what, client] of [
        ["no certificate", {}],
        ["another CA's certificate", { cert: STRANGER_CERT, key: STRANGER_KEY }],
      ] as const) {
        const bad = await tlsPair(adapter, scope, identity, client);
        if (bad.serverResult.status === "fulfilled") throw new Failure(`${what} was accepted`);
        const error = bad.serverResult.reason as Error & { code?: string; cause_label?: string };
        equal(error.code, "ETLS", `${what}: error code`);
        equal(error.cause_label, "client_certificate", `${what}: cause`);
      }
    },
  ],
  [
    "TLS: connectTls verifying against a CA that did not sign the server fails",
    async (adapter, _options, scope) => {
      const { clientResult } = await tlsPair(adapter, scope, SERVER_IDENTITY, { ca: STRANGER_CERT });
      check(clientResult.status === "rejected", "a server certificate from an unknown CA was accepted");
      const error = clientResult.reason as Error & { code?: string };
      check(typeof error.code === "string", `error without a code: ${error.message}`);
    },
  ],
  [
    "UDP: binding a taken port fails with EADDRINUSE, and the bound socket keeps working",
    async (adapter, _options, scope) => {
      const got = deferred<string>();
      const first = scope.udpSocket(
        await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data) => got.resolve(new TextDecoder().decode(data))),
      );
      const error = await adapter
        .bindUdp({ host: "127.0.0.1", port: first.address.port }, () => {})
        .then(
          (second) => {
            second.close();
            return undefined;
          },
          (error: unknown) => error as { code?: string },
        );
      check(error !== undefined, "second bind on the same UDP port succeeded");
      equal(error.code, "EADDRINUSE", "error code");
      const client = scope.udpSocket(await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, () => {}));
      for (let attempt = 0; attempt < 5; attempt++) {
        client.send(encode("after"), first.address.port, "127.0.0.1");
        const data = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
        if (data !== undefined) {
          equal(data, "after", "datagram on the first socket");
          return;
        }
      }
      throw new Failure("the first socket received nothing after the failed bind");
    },
  ],
  [
    "UDP: a sent datagram keeps its bytes when the caller reuses its buffer right after send",
    async (adapter, _options, scope) => {
      const received: string[] = [];
      const all = deferred<void>();
      const server = scope.udpSocket(
        await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data) => {
          received.push(new TextDecoder().decode(data));
          if (received.length === 20) all.resolve();
        }),
      );
      const client = scope.udpSocket(await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, () => {}));
      // one buffer for every datagram, overwritten as soon as `send` returns (a receive buffer does that)
      const buffer = new Uint8Array(8);
      for (let i = 0; i < 20; i++) {
        buffer.set(encode(`dgram-${String(i).padStart(2, "0")}`));
        client.send(buffer, server.address.port, "127.0.0.1");
        buffer.fill(0x78);
      }
      await within(all.promise, 3000, "20 datagrams on loopback");
      const expected = Array.from({ length: 20 }, (_, i) => `dgram-${String(i).padStart(2, "0")}`);
      equal(received.sort().join(","), expected.join(","), "datagrams as sent");
    },
  ],
  [
    "UDP: a 60,000-byte datagram arrives whole",
    async (adapter, _options, scope) => {
      const got = deferred<Uint8Array>();
      const server = scope.udpSocket(
        await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data) => got.resolve(data.slice())),
      );
      const client = scope.udpSocket(await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, () => {}));
      const big = new Uint8Array(60_000);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      for (let attempt = 0; attempt < 5; attempt++) {
        client.send(big, server.address.port, "127.0.0.1");
        const data = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
        if (data === undefined) continue;
        equal(data.length, big.length, "datagram length");
        for (let i = 0; i < data.length; i++) if (data[i] !== i % 251) throw new Failure(`byte ${i} differs`);
        return;
      }
      throw new Failure("no 60,000-byte datagram arrived");
    },
  ],
  [
    "UDP: a socket bound to :: answers IPv4 and IPv6 senders at the address it reported",
    async (adapter, _options, scope) => {
      const server = scope.udpSocket(
        await adapter.bindUdp({ host: "::", port: 0 }, (data, from) => server.send(data, from.port, from.address)),
      );
      for (const host of ["127.0.0.1", "::1"]) {
        const got = deferred<string>();
        const client = scope.udpSocket(
          await adapter.bindUdp({ host, port: 0 }, (data) => got.resolve(new TextDecoder().decode(data))),
        );
        let reply: string | undefined;
        for (let attempt = 0; attempt < 5 && reply === undefined; attempt++) {
          client.send(encode(`from ${host}`), server.address.port, host);
          reply = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
        }
        equal(reply, `from ${host}`, `reply to a ${host} sender`);
      }
    },
  ],
  [
    "UDP on IPv6 ::1",
    async (adapter, _options, scope) => {
      const got = deferred<AddressInfo>();
      const server = scope.udpSocket(
        await adapter.bindUdp({ host: "::1", port: 0 }, (_data, from) => got.resolve(from)),
      );
      equal(server.address.family, "IPv6", "UDP family");
      const client = scope.udpSocket(await adapter.bindUdp({ host: "::1", port: 0 }, () => {}));
      for (let attempt = 0; attempt < 5; attempt++) {
        client.send(encode("v6"), server.address.port, "::1");
        const from = await Promise.race([got.promise, sleep(200).then(() => undefined)]);
        if (from) {
          equal(from.address, "::1", "sender address");
          equal(from.port, client.address.port, "sender port");
          return;
        }
      }
      throw new Failure("no datagram on ::1");
    },
  ],
  // The blackhole checks come last: connects an adapter cannot cancel stay connecting for the rest of the run.
  [
    "connect timeout fails with ETIMEDOUT",
    async (adapter, options) => {
      check(options.blackholePort !== undefined, "no blackhole port given (SLUICE_BLACKHOLE_PORT)");
      const started = Date.now();
      const error = await within(
        adapter.connectTcp({ host: "127.0.0.1", port: options.blackholePort, timeoutMs: 300 }).then(
          (connection) => {
            connection.destroy();
            return undefined;
          },
          (error: unknown) => error as { code?: string },
        ),
        5000,
        "connect with timeoutMs 300",
      );
      check(error !== undefined, "connect to the blackhole succeeded");
      equal(error.code, "ETIMEDOUT", "error code");
      const elapsed = Date.now() - started;
      check(elapsed >= 250 && elapsed < 3000, `timed out after ${elapsed} ms`);
    },
  ],
  [
    "a connect that times out is cancelled: no socket stays in SYN-SENT beyond the adapter's uncancellable limit",
    async (adapter, options, scope) => {
      const port = options.blackholePort;
      check(port !== undefined, "no blackhole port given (SLUICE_BLACKHOLE_PORT)");
      // An adapter that cannot cancel some connects (uncancellableConnectLimit) leaves at most that many
      // connecting; every attempt beyond it must be cancelled. (This leaves them connecting for the rest of
      // the run: the blackhole checks come last.)
      const limit = adapter.uncancellableConnectLimit ?? 0;
      const before = synSentTo(port);
      const attempts = limit + 4;
      const codes = await Promise.all(
        Array.from({ length: attempts }, () =>
          adapter.connectTcp({ host: "127.0.0.1", port, timeoutMs: 200 }).then(
            (connection) => {
              connection.destroy();
              return "connected";
            },
            (error: unknown) => (error as { code?: string }).code,
          ),
        ),
      );
      equal(codes.join(","), Array(attempts).fill("ETIMEDOUT").join(","), "connect results");
      let left = synSentTo(port) - before;
      for (let wait = 0; wait < 20 && left > limit; wait++) {
        await sleep(50);
        left = synSentTo(port) - before;
      }
      check(left <= limit, `${left} sockets still connecting after their connect timed out (limit ${limit})`);
      // with its uncancellable connects used up, the adapter still connects (and still times out, cancelled)
      const { listener } = await acceptor(adapter, scope);
      await connectTo(adapter, scope, listener.address);
      const more = await adapter.connectTcp({ host: "127.0.0.1", port, timeoutMs: 200 }).then(
        (connection) => {
          connection.destroy();
          return "connected";
        },
        (error: unknown) => (error as { code?: string }).code,
      );
      equal(more, "ETIMEDOUT", "connect result past the limit");
      left = synSentTo(port) - before;
      for (let wait = 0; wait < 20 && left > limit; wait++) {
        await sleep(50);
        left = synSentTo(port) - before;
      }
      check(left <= limit, `${left} sockets still connecting past the limit (limit ${limit})`);
    },
  ],
];

/** Runs every check (or those whose name contains `only`) and reports each as it finishes. */
export async function runConformance(
  adapter: SocketAdapter,
  options: SuiteOptions,
  report: (result: CheckResult) => void,
  only?: string,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, run] of checks) {
    if (only !== undefined && !name.includes(only)) continue;
    const scope = new Scope();
    const started = Date.now();
    let result: CheckResult;
    try {
      await within(run(adapter, options, scope), CHECK_TIMEOUT_MS, name);
      result = { name, ok: true, detail: "", ms: Date.now() - started };
    } catch (error) {
      const detail = error instanceof Error ? `${error.message}` : String(error);
      result = { name, ok: false, detail, ms: Date.now() - started };
    } finally {
      await scope.close();
    }
    results.push(result);
    report(result);
  }
  return results;
}
