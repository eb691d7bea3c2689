/**
 * The subset of Bun's global API that Sluice uses, typed by hand: the project does not install
 * `bun-types` (it would pull Bun's globals into the Node type-check of `src/`). Checked against Bun 1.4.
 */
declare namespace BunApi {
  interface Socket<Data> {
    data: Data;
    /** the address getters are each a getpeername or getsockname; null once the socket is closed */
    readonly remoteAddress: string | null;
    readonly remotePort: number | null;
    readonly remoteFamily: "IPv4" | "IPv6";
    readonly localAddress: string | null;
    readonly localPort: number | null;
    readonly localFamily: "IPv4" | "IPv6";
    /** bytes handed to the kernel (may be fewer than asked, or -1 when closed) */
    write(data: Uint8Array | string): number;
    /** with no argument: send FIN, keep reading (shutdown(2) SHUT_WR) */
    shutdown(halfClose?: boolean): void;
    end(): void;
    /** close now (RST) */
    terminate(): void;
    pause(): void;
    resume(): void;
    setNoDelay(noDelay?: boolean): boolean;
  }

  interface SocketHandler<Data> {
    open?(socket: Socket<Data>): void;
    data?(socket: Socket<Data>, data: Uint8Array): void;
    drain?(socket: Socket<Data>): void;
    end?(socket: Socket<Data>): void;
    close?(socket: Socket<Data>, error?: Error): void;
    error?(socket: Socket<Data>, error: Error): void;
    connectError?(socket: Socket<Data>, error: Error): void;
  }

  interface TcpListener {
    readonly hostname: string;
    readonly port: number;
    stop(closeActiveConnections?: boolean): void;
  }

  interface UdpSocket {
    readonly hostname: string;
    readonly port: number;
    readonly address: { address: string; family: "IPv4" | "IPv6"; port: number };
    send(data: Uint8Array, port: number, address: string): boolean;
    close(): void;
  }

  interface Server {
    readonly hostname: string | undefined;
    readonly port: number | undefined;
    stop(closeActiveConnections?: boolean): Promise<void>;
    requestIP(request: Request): { address: string; port: number } | null;
  }

  interface Api {
    readonly version: string;
    listen<Data>(options: {
      hostname: string;
      port: number;
      allowHalfOpen?: boolean;
      reusePort?: boolean;
      exclusive?: boolean;
      backlog?: number;
      socket: SocketHandler<Data>;
    }): TcpListener;
    connect<Data>(options: {
      hostname: string;
      port: number;
      allowHalfOpen?: boolean;
      socket: SocketHandler<Data>;
    }): Promise<Socket<Data>>;
    udpSocket(options: {
      hostname: string;
      port: number;
      socket: {
        data(socket: UdpSocket, data: Uint8Array, port: number, address: string): void;
        error?(socket: UdpSocket, error: Error): void;
      };
    }): Promise<UdpSocket>;
    serve(options: {
      hostname: string;
      port: number;
      /** seconds; 0 turns the idle timeout off */
      idleTimeout?: number;
      /** `server.requestIP(request)` is the client's address of that request */
      fetch(request: Request, server: Server): Response | Promise<Response>;
      error?(error: Error): Response;
    }): Server;
  }
}

declare const Bun: BunApi.Api;
