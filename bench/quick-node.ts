/**
 * First throughput numbers of the Node data plane: redis-benchmark against Redis directly and through
 * an in-process gateway (Node socket adapter, access log written to /dev/null at info level so its
 * cost is counted). Usage: `node --import tsx bench/quick-node.ts [requests]`.
 */
import { spawn } from "node:child_process";
import pino from "pino";
import { createNodeSocketAdapter } from "../runtime/node/socket-adapter.ts";
import { Gateway } from "../src/proxy/gateway.ts";
import { freePort } from "../test/fixtures/ports.ts";

const requests = Number(process.argv[2] ?? 100_000);

async function main(): Promise<void> {
  const port = await freePort();
  const gateway = new Gateway({
    adapter: createNodeSocketAdapter(),
    logger: pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false })),
    gatewayGroup: "bench",
    listenAddr: "127.0.0.1",
  });
  await gateway.apply({
    version: 1,
    gateway_group: { id: "bench", name: "bench" },
    stream_port_ranges: [],
    ssls: [],
    real_ip_from: [],
    services: [
      {
        id: "redis",
        name: "redis",
        version: "1",
        plugins: {},
        upstream: {
          scheme: "tcp",
          type: "roundrobin",
          hash_on: "vars",
          key: "remote_addr",
          retry_timeout: 0,
          timeout: { connect: 5, send: 600, read: 600 },
          nodes: [{ host: "127.0.0.1", port: 6379, weight: 1, priority: 0 }],
        },
        stream_routes: [{ id: "r", name: "redis", server_port: port, plugins: {} }],
      },
    ],
  });
  const cases: [string, string[]][] = [
    ["get,set -P1", ["-t", "get,set"]],
    ["get,set -P16", ["-t", "get,set", "-P", "16"]],
    ["ping, new connection each", ["-t", "ping_inline", "-k", "0", "-n", String(Math.min(requests, 20_000))]],
  ];
  console.log("| case | target | results (requests/s) |");
  console.log("|---|---|---|");
  for (const [name, args] of cases) {
    for (const [target, p] of [
      ["direct", 6379],
      ["sluice (node)", port],
    ] as const) {
      console.log(`| ${name} | ${target} | ${JSON.stringify(await redisBenchmark(p, args))} |`);
    }
  }
  console.log(`gateway rss ${Math.round(process.memoryUsage().rss / 1048576)} MiB`);
  await gateway.stop();
}

/** Runs redis-benchmark in a child without blocking this process's event loop (the gateway lives in it). */
function redisBenchmark(port: number, extra: string[]): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const args = ["-h", "127.0.0.1", "-p", String(port), "-q", "-n", String(requests), "-c", "50", ...extra];
    const child = spawn("redis-benchmark", args);
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.on("close", () => {
      const out: Record<string, number> = {};
      for (const m of stdout.matchAll(/([A-Z_]+)[^:\n\r]*: ([\d.]+) requests per second/g)) out[m[1]!] = Number(m[2]);
      resolve(out);
    });
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
