/**
 * Idle backend for the memory workload: accepts TCP connections and holds them open (sending nothing),
 * closing its side when the peer closes (so a proxy that half-closes is not left waiting), and printing `connections N` whenever the count changed, so the harness knows every proxied connection
 * has reached the backend. Usage: node --import tsx bench/backends/hold-server.ts PORT
 */
import { createServer, type Socket } from "node:net";

const port = Number(process.argv[2]);
const held = new Set<Socket>();
let reported = -1;

const server = createServer((socket) => {
  held.add(socket);
  socket.on("data", () => undefined);
  socket.on("end", () => socket.destroy());
  socket.on("error", () => held.delete(socket));
  socket.on("close", () => held.delete(socket));
});
server.maxConnections = 100_000;
server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(`listening ${port}\n`);
});
setInterval(() => {
  if (held.size !== reported) {
    reported = held.size;
    process.stdout.write(`connections ${reported}\n`);
  }
}, 100);
process.on("SIGTERM", () => process.exit(0));
