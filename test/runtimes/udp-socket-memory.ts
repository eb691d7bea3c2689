/**
 * What idle UDP sockets cost in RSS on one adapter (the upstream socket of each UDP session): binds N
 * sockets, each sends one 512-byte datagram to an echo socket, and prints RSS before, with the sockets
 * open, and after closing them. A measurement, not a test (docs/runtimes.md has the figures):
 *   node --import tsx test/runtimes/udp-socket-memory.ts node 3000
 *   node_modules/.bin/bun test/runtimes/udp-socket-memory.ts bun-native 3000
 *   node_modules/.bin/deno run -A --unstable-net test/runtimes/udp-socket-memory.ts deno-native 3000
 * Run it with an fd limit above N (`prlimit --nofile=16000:16000 -- …`).
 */
import process from "node:process";
import type { UdpSocket } from "../../src/proxy/adapter.ts";
import { adapterNamed } from "../conformance/adapters.ts";

const adapter = await adapterNamed(process.argv[2] ?? "");
const count = Number(process.argv[3] ?? 3000);
const rssMb = () => Math.round(process.memoryUsage().rss / 1048576);
const settle = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

const echo: UdpSocket = await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, (data, from) =>
  echo.send(data, from.port, from.address),
);
let replies = 0;
const sockets: UdpSocket[] = [];
await settle(300);
const before = rssMb();
for (let i = 0; i < count; i++) {
  const socket = await adapter.bindUdp({ host: "127.0.0.1", port: 0 }, () => {
    replies++;
  });
  socket.send(new Uint8Array(512), echo.address.port, "127.0.0.1");
  sockets.push(socket);
}
await settle(1000);
const open = rssMb();
for (const socket of sockets) socket.close();
await settle(1000);
console.log(
  `${adapter.name}: ${count} sockets (${replies} replies): RSS ${before} MB, open ${open} MB (+${open - before}), closed ${rssMb()} MB`,
);
process.exit(0);
