/**
 * A minimal TCP proxy on one socket adapter, no pipeline: listen → connect → bridge with backpressure.
 * The floor each adapter gives, for test/runtimes/adapter-throughput.ts. Runs under node, bun or deno:
 *   <runtime> test/runtimes/minimal-proxy.ts ADAPTER UPSTREAM_PORT
 * Prints `listening PORT`, exits when stdin closes.
 */
import type { TcpConnection } from "../../src/proxy/adapter.ts";
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

const adapter = await adapterNamed(process.argv[2] ?? "");
const upstreamPort = Number(process.argv[3]);
const listener = await adapter.listenTcp({ host: "127.0.0.1", port: 0 }, (client) => {
  adapter.connectTcp({ host: "127.0.0.1", port: upstreamPort, timeoutMs: 5000 }).then(
    (upstream) => {
      // onDrain of one side resumes the other: each direction's handlers live on its source.
      pipeOneWay(client, upstream);
      pipeOneWay(upstream, client);
    },
    () => client.destroy(),
  );
});
console.log(`listening ${listener.address.port} ${adapter.name} ${adapter.runtime}`);
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
