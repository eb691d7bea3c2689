/**
 * Bulk source for the TLS throughput workload: on every accepted TCP connection writes zeros as fast as
 * the peer reads (one 256 KiB buffer written again and again, so the server allocates nothing per write),
 * until the peer closes. Usage: node --import tsx bench/backends/source-server.ts PORT
 */
import { createServer, type Socket } from "node:net";

const port = Number(process.argv[2]);
const block = Buffer.alloc(256 * 1024);

function pump(socket: Socket): void {
  while (!socket.destroyed && socket.write(block));
}

const server = createServer((socket) => {
  socket.on("drain", () => pump(socket));
  socket.on("data", () => undefined);
  socket.on("end", () => socket.destroy());
  socket.on("error", () => socket.destroy());
  pump(socket);
});
server.listen({ port, host: "127.0.0.1", backlog: 1024 }, () => {
  process.stdout.write(`listening ${port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
