/**
 * UDP sockets for the Node adapter. On Node itself a socket is Node's own UDP handle (`udp_wrap`, the
 * C++ object under `node:dgram`) driven directly: a datagram is delivered from the handle's `onmessage`
 * and sent with one `handle.send` call. `dgram.Socket` does the same two calls, but around them it emits
 * an event per datagram, and for every `send` normalises its arguments, builds a buffer list, runs the
 * address lookup through a closure and allocates a `SendWrap` (docs/performance.md, "UDP without dgram").
 *
 * The handle is reached through `process.binding("udp_wrap")`, which Node keeps for compatibility. It is
 * probed once; where it is missing or not Node's (Bun throws, Deno has a JavaScript stand-in built on
 * its own API), and for a listener that shares its port (`reusePort`, cluster workers), sockets are
 * `node:dgram` sockets as before.
 */
import cluster from "node:cluster";
import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import {
  type AddressInfo,
  addressFamily,
  normaliseAddress,
  type UdpBindOptions,
  type UdpErrorHandler,
  type UdpMessageHandler,
  type UdpSocket,
} from "../../src/proxy/adapter.ts";
import { isFreshChunk, markFreshChunk } from "./fresh-chunk.ts";
import { uvError } from "./uv-error.ts";

/** what `udp_wrap`'s C++ `OnRecv` passes: the sender, as `dgram`'s `rinfo` */
interface RawSender {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

interface RawUdpHandle {
  onmessage: (nread: number, handle: RawUdpHandle, data: Buffer | undefined, sender: RawSender) => void;
  bind(ip: string, port: number, flags: number): number;
  bind6(ip: string, port: number, flags: number): number;
  recvStart(): number;
  send(request: object, list: Uint8Array[], count: number, port: number, ip: string, hasCallback: boolean): number;
  send6(request: object, list: Uint8Array[], count: number, port: number, ip: string, hasCallback: boolean): number;
  getsockname(out: Partial<RawSender>): number;
  close(): void;
}

interface UdpWrapBinding {
  UDP: new () => RawUdpHandle;
  SendWrap: new () => object;
}

/** Node's UDP handle constructors, or undefined where this is not Node or they are not there */
const udpWrap: UdpWrapBinding | undefined = (() => {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined || versions.deno !== undefined) return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): Partial<UdpWrapBinding> }).binding("udp_wrap");
    const { UDP, SendWrap } = binding;
    if (typeof UDP !== "function" || typeof SendWrap !== "function") return undefined;
    const prototype = UDP.prototype as Partial<RawUdpHandle>;
    for (const method of ["bind", "bind6", "recvStart", "send", "send6", "getsockname", "close"] as const) {
      if (typeof prototype[method] !== "function") return undefined;
    }
    return { UDP, SendWrap };
  } catch {
    return undefined;
  }
})();

class RawUdpSocket implements UdpSocket {
  private closed = false;
  /** the one-element buffer list `handle.send` takes, reused for every send */
  private readonly list: Uint8Array[] = [];
  /**
   * The send request object. A send that completes at once (the usual case: the kernel took the
   * datagram) leaves it unused, so it is reused; one that had to queue is owned by libuv until done.
   */
  private request: object;
  /** the last IP literal sent to, and the address the handle takes for it: checked once, not per send */
  private literalHost = "";
  private literalIp = "";

  constructor(
    private readonly handle: RawUdpHandle,
    private readonly binding: UdpWrapBinding,
    private readonly ipv6: boolean,
    readonly address: AddressInfo,
    private readonly onError: UdpErrorHandler | undefined,
  ) {
    this.request = new binding.SendWrap();
  }

  send(data: Uint8Array, port: number, host: string): void {
    if (this.closed) return;
    if (host !== this.literalHost) {
      const kind = net.isIP(host);
      if (kind === 0) {
        this.sendToName(data, port, host);
        return;
      }
      this.literalHost = host;
      this.literalIp = this.ipv6 && kind === 4 ? `::ffff:${host}` : host;
    }
    this.sendTo(isFreshChunk(data) ? data : Buffer.from(data), port, this.literalIp);
  }

  /** `datagram` is owned by this send: a queued send keeps it until libuv is done with it */
  private sendTo(datagram: Uint8Array, port: number, ip: string): void {
    const list = this.list;
    list[0] = datagram;
    const request = this.request;
    const result = this.ipv6
      ? this.handle.send6(request, list, 1, port, ip, false)
      : this.handle.send(request, list, 1, port, ip, false);
    list[0] = EMPTY;
    if (result >= 1) return;
    if (result === 0) {
      // queued: the request and the datagram stay with libuv until the send is done
      (request as { datagram?: Uint8Array }).datagram = datagram;
      this.request = new this.binding.SendWrap();
      return;
    }
    // a bad address, or the kernel refused it (EPERM, EMSGSIZE…): one datagram lost, as UDP does
    this.onError?.(uvError(result, "send"));
  }

  /** a node named by a host name: looked up first (rare; the datagram is copied for the wait) */
  private sendToName(data: Uint8Array, port: number, host: string): void {
    const datagram = Buffer.from(data);
    // an IPv6 socket reaches IPv4 hosts through IPv4-mapped addresses (a dual-stack socket bound to ::)
    dns.lookup(host, this.ipv6 ? { family: 6, hints: dns.V4MAPPED } : { family: 4 }, (error, ip) => {
      if (this.closed) return;
      if (error) this.onError?.(error);
      else this.sendTo(datagram, port, ip);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

const EMPTY = new Uint8Array(0);

function bindRaw(
  binding: UdpWrapBinding,
  options: UdpBindOptions,
  onMessage: UdpMessageHandler,
  onError: UdpErrorHandler | undefined,
): UdpSocket {
  const handle = new binding.UDP();
  const ipv6 = addressFamily(options.host) === "IPv6";
  const result = ipv6 ? handle.bind6(options.host, options.port, 0) : handle.bind(options.host, options.port, 0);
  if (result < 0) {
    handle.close();
    throw uvError(result, "bind");
  }
  const bound: Partial<RawSender> = {};
  handle.getsockname(bound);
  const a = normaliseAddress(bound.address ?? options.host);
  const socket = new RawUdpSocket(
    handle,
    binding,
    ipv6,
    { address: a, port: bound.port ?? 0, family: addressFamily(a) },
    onError,
  );
  handle.onmessage = (nread, _handle, data, sender) => {
    if (nread < 0 || data === undefined) {
      // a receive error (an ICMP error for an earlier send, where reported): the socket keeps receiving
      if (nread < 0) onError?.(uvError(nread, "recvmsg"));
      return;
    }
    markFreshChunk(data);
    // the sender already has the AddressInfo shape; only IPv4-mapped senders need a new object
    const address = normaliseAddress(sender.address);
    if (address !== sender.address) onMessage(data, { address, port: sender.port, family: "IPv4" });
    else onMessage(data, sender);
  };
  const started = handle.recvStart();
  if (started < 0) {
    handle.close();
    throw uvError(started, "recv_start");
  }
  return socket;
}

class DgramUdpSocket implements UdpSocket {
  private closed = false;
  constructor(
    private readonly socket: dgram.Socket,
    readonly address: AddressInfo,
    private readonly onError: UdpErrorHandler | undefined,
  ) {}

  send(data: Uint8Array, port: number, host: string): void {
    if (this.closed) return;
    try {
      // dgram may queue the send (and a host name is looked up first), holding the bytes past this call
      this.socket.send(isFreshChunk(data) ? data : Buffer.from(data), port, host);
    } catch (error) {
      // a bad port or address throws at once; like a failed send it loses one datagram, nothing more
      this.onError?.(withCode(error));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

/**
 * dgram's address lookup, run for every `send` with an address: an IP literal (a node's address, the
 * client's) answers at once, where Node's default `dns.lookup` defers even a literal to the next tick; a
 * host name goes to `dns.lookup` as before. Saves a tick and a callback per proxied datagram.
 */
function literalFirstLookup(
  hostname: string,
  family: number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const kind = net.isIP(hostname);
  // an IPv6 socket (dgram asks for family 6) reaches an IPv4 client through its IPv4-mapped address: a
  // client of a dual-stack listener bound to :: is handed on as plain IPv4 (`normaliseAddress`)
  if (kind === 4 && family === 6) callback(null, `::ffff:${hostname}`, 6);
  else if (kind !== 0) callback(null, hostname, kind);
  else
    dns.lookup(hostname, family === 6 ? { family: 6, hints: dns.V4MAPPED } : { family }, (error, address, found) =>
      callback(error, address, found),
    );
}

function withCode(error: unknown): Error {
  if (error instanceof Error) return error;
  return Object.assign(new Error(String(error)), { code: "EUNKNOWN" });
}

function bindDgram(
  options: UdpBindOptions,
  onMessage: UdpMessageHandler,
  onError?: UdpErrorHandler,
): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const type = addressFamily(options.host) === "IPv6" ? "udp6" : "udp4";
    const reusePort = options.reusePort === true;
    // `reusePort` is SO_REUSEPORT on Node >= 22.12 and on Bun; Node 20 ignores it
    const socket = dgram.createSocket({
      type,
      reuseAddr: reusePort,
      reusePort,
      lookup: literalFirstLookup as dgram.SocketOptions["lookup"],
    } as dgram.SocketOptions);
    socket.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      markFreshChunk(msg);
      // rinfo already has the AddressInfo shape; only IPv4-mapped senders need a new object.
      const address = normaliseAddress(rinfo.address);
      if (address !== rinfo.address) onMessage(msg, { address, port: rinfo.port, family: "IPv4" });
      else onMessage(msg, rinfo as AddressInfo);
    });
    const onBindError = (error: Error) => {
      socket.close();
      reject(withCode(error));
    };
    socket.once("error", onBindError);
    // An ephemeral upstream socket is always the worker's own; a listener in a cluster worker without
    // SO_REUSEPORT is the primary's shared handle, as for TCP.
    socket.bind({ port: options.port, address: options.host, exclusive: options.port === 0 || reusePort }, () => {
      socket.off("error", onBindError);
      // send errors (EHOSTUNREACH, ECONNREFUSED from ICMP) drop the datagram, as UDP does.
      socket.on("error", (error: Error) => onError?.(withCode(error)));
      const a = socket.address();
      const address = normaliseAddress(a.address);
      resolve(new DgramUdpSocket(socket, { address, port: a.port, family: addressFamily(address) }, onError));
    });
  });
}

/** `SocketAdapter.bindUdp` for the Node adapter */
export function bindNodeUdp(
  options: UdpBindOptions,
  onMessage: UdpMessageHandler,
  onError?: UdpErrorHandler,
): Promise<UdpSocket> {
  // a port shared with other processes (SO_REUSEPORT) or with the cluster's primary needs dgram's options
  const shared = options.reusePort === true || (cluster.isWorker && options.port !== 0);
  if (udpWrap === undefined || shared) return bindDgram(options, onMessage, onError);
  try {
    return Promise.resolve(bindRaw(udpWrap, options, onMessage, onError));
  } catch (error) {
    return Promise.reject(withCode(error));
  }
}
