/**
 * A minimal proxy on one socket adapter, no pipeline: listen → connect → bridge with backpressure (TCP),
 * one upstream socket per client address (UDP). The floor each adapter gives, for
 * test/runtimes/adapter-throughput.ts and the bench's `floor-*` targets. Runs under node, bun or deno:
 *   <runtime> test/runtimes/minimal-proxy.ts ADAPTER ROUTE...
 * where a ROUTE is `UPSTREAM_PORT` (TCP on a free port) or `tcp:LISTEN_PORT=UPSTREAM_PORT` or
 * `udp:LISTEN_PORT=UPSTREAM_PORT`, all on 127.0.0.1. Prints `listening PORT ADAPTER RUNTIME` per route.
 */
import type { AddressInfo, SocketAdapter, TcpConnection, UdpSocket } from "../../src/proxy/adapter.ts";
import { adapterNamed } from "../conformance/adapters.ts";

function pipeOneWay(from: TcpConnection, to: TcpConnection): void {
  from.setHandlers({
    onData(chunk) {
      if (!to.write(chunk)) from.pause();
    },
    onEnd() {
      to.end();
    },
    onDrain() {
      to.resume();
    },
    onClose() {
      to.destroy();
    },
  });
}

async function proxyTcp(adapter: SocketAdapter, listenPort: number, upstreamPort: number): Promise<number> {
  const listener = await adapter.listenTcp({ host: "127.0.0.1", port: listenPort }, (client) => {
    adapter.connectTcp({ host: "127.0.0.1", port: upstreamPort, timeoutMs: 5000 }).then(
      (upstream) => {
        // onDrain of one side resumes the other: each direction's handlers live on its source.
        pipeOneWay(client, upstream);
        pipeOneWay(upstream, client);
      },
      () => client.destroy(),
    );
  });
  return listener.address.port;
}

async function proxyUdp(adapter: SocketAdapter, listenPort: number, upstreamPort: number): Promise<number> {
  const upstreams = new Map<string, UdpSocket | Uint8Array[]>();
  const listener = await adapter.bindUdp({ host: "127.0.0.1", port: listenPort }, (data, from: AddressInfo) => {
    const key = `${from.address}:${from.port}`;
    const upstream = upstreams.get(key);
    if (upstream !== undefined && !Array.isArray(upstream)) return upstream.send(data, upstreamPort, "127.0.0.1");
    // `data` is valid only during this call: keep a copy of what arrives while the upstream socket binds
    if (upstream !== undefined) return void upstream.push(data.slice());
    const waiting = [data.slice()];
    upstreams.set(key, waiting);
    void adapter
      .bindUdp({ host: "127.0.0.1", port: 0 }, (reply) => listener.send(reply, from.port, from.address))
      .then((socket) => {
        upstreams.set(key, socket);
        for (const datagram of waiting) socket.send(datagram, upstreamPort, "127.0.0.1");
      });
  });
  return listener.address.port;
}

const adapter = await adapterNamed(process.argv[2] ?? "");
for (const route of process.argv.slice(3)) {
  const match = /^(?:(tcp|udp):(\d+)=)?(\d+)$/.exec(route);
  if (!match) throw new Error(`route ${route}: UPSTREAM_PORT, tcp:LISTEN=UPSTREAM or udp:LISTEN=UPSTREAM`);
  const [, scheme = "tcp", listen = "0", upstream] = match;
  const port = await (scheme === "udp" ? proxyUdp : proxyTcp)(adapter, Number(listen), Number(upstream));
  console.log(`listening ${port} ${adapter.name} ${adapter.runtime}`);
}
process.stdin.on("data", () => {});
