/**
 * The soak's upstream nodes, in the harness process so they can say which client session reached them:
 * every session's first bytes carry its id, and a node reports `attach(sessionId, nodeName)`. A node
 * can be killed (every connection reset, the port closed) and restarted on the same port.
 *
 * - echo: TCP, after the `S <id>\n` header echoes every byte back (the client checksums both ways)
 * - reqres: TCP, answers each `Q <id> <seq> <size>\n` with `size` bytes of value `seq & 255`
 * - udp: echoes each datagram `U <id> <seq> …` to its sender
 */
import dgram from "node:dgram";
import net from "node:net";

export type NodeKind = "echo" | "reqres" | "udp";
export type Attach = (sessionId: string, node: string) => void;

const HEADER_MAX = 128;

function sessionIdOf(head: Buffer): string {
  return head.toString("latin1", 0, Math.min(head.length, HEADER_MAX)).split(/[ \n]/)[1] ?? "";
}

export class UpstreamNode {
  port = 0;
  up = false;
  private server: net.Server | dgram.Socket | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly name: string,
    readonly kind: NodeKind,
    private readonly attach: Attach,
  ) {}

  get protocol(): "tcp" | "udp" {
    return this.kind === "udp" ? "udp" : "tcp";
  }

  /** Listens on the node's port (a free one the first time). */
  async start(): Promise<void> {
    if (this.kind === "udp") {
      const socket = dgram.createSocket("udp4");
      socket.on("message", (msg, rinfo) => {
        this.attach(sessionIdOf(msg), this.name);
        socket.send(msg, rinfo.port, rinfo.address);
      });
      socket.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(this.port, "127.0.0.1", () => resolve());
      });
      this.port = socket.address().port;
      this.server = socket;
    } else {
      const server = net.createServer({ allowHalfOpen: this.kind === "echo" }, (socket) => this.serve(socket));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.port, "127.0.0.1", () => resolve());
      });
      this.port = (server.address() as net.AddressInfo).port;
      this.server = server;
    }
    this.up = true;
  }

  /** Resets every connection and closes the port, as a crashed backend would. */
  async kill(): Promise<void> {
    this.up = false;
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    if (server instanceof net.Server) await new Promise<void>((resolve) => server.close(() => resolve()));
    else if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => {});
    if (this.kind === "echo") this.serveEcho(socket);
    else this.serveRequests(socket);
  }

  private serveEcho(socket: net.Socket): void {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.indexOf(10) < 0 && head.length < HEADER_MAX) return;
      socket.off("data", onData);
      this.attach(sessionIdOf(head), this.name);
      socket.write(head);
      socket.pipe(socket);
    };
    socket.on("data", onData);
    // a client that half-closes before its header was whole still gets its FIN back
    socket.once("end", () => {
      if (socket.listenerCount("data") > 0 && head.indexOf(10) < 0) socket.end();
    });
  }

  private serveRequests(socket: net.Socket): void {
    let pending = "";
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      pending += text;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const [, id = "", seq = "0", size = "0"] = pending.slice(0, nl).split(" ");
        pending = pending.slice(nl + 1);
        this.attach(id, this.name);
        socket.write(Buffer.alloc(Math.min(Number(size), 1 << 20), Number(seq) & 255));
        nl = pending.indexOf("\n");
      }
      if (pending.length > HEADER_MAX) socket.destroy();
    });
  }
}
