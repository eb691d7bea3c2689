/**
 * Small requests through the proxy to redis-server with redis-benchmark: GET/SET with 50 clients at
 * -P 1 and -P 16; new connections (PING with keep-alive off); latency of one client at -P 1.
 * Every run is bounded by its request count (-n) and a kill timeout.
 */
import { runTool } from "../processes.ts";
import type { Workload } from "./workload.ts";

interface CsvRow {
  rps: number;
  p50: number;
  p99: number;
}

async function redisBenchmark(port: number, args: string[], timeoutMs: number): Promise<Map<string, CsvRow>> {
  const out = await runTool("redis-benchmark", ["-h", "127.0.0.1", "-p", String(port), "--csv", ...args], timeoutMs);
  const rows = new Map<string, CsvRow>();
  for (const line of out.split("\n")) {
    const cells = line.split(",").map((c) => c.replaceAll('"', ""));
    if (cells.length < 8 || cells[0] === "test" || Number.isNaN(Number(cells[1]))) continue;
    rows.set(cells[0]!, { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) });
  }
  if (rows.size === 0) throw new Error(`redis-benchmark printed no results: ${out.slice(0, 300)}`);
  return rows;
}

function row(rows: Map<string, CsvRow>, test: string): CsvRow {
  const r = rows.get(test);
  if (!r) throw new Error(`redis-benchmark gave no ${test} row`);
  return r;
}

export function redisRequestsWorkload(pipeline: 1 | 16): Workload {
  const get = `get_p${pipeline}_rps`;
  const set = `set_p${pipeline}_rps`;
  return {
    key: `p${pipeline}`,
    name: `redis GET/SET -P ${pipeline}`,
    figures: [
      { id: get, label: `GET -P${pipeline} (50 clients)`, unit: "req/s", better: "higher" },
      { id: set, label: `SET -P${pipeline} (50 clients)`, unit: "req/s", better: "higher" },
    ],
    quick: true,
    skip: () => undefined,
    async run(ctx) {
      const base = pipeline === 1 ? 100_000 : 1_000_000;
      const requests = ctx.quick ? base / 2 : base;
      const rows = await redisBenchmark(
        ctx.target.ports.redis,
        ["-c", "50", "-n", String(requests), "-P", String(pipeline), "-t", "get,set"],
        120_000,
      );
      return { [get]: row(rows, "GET").rps, [set]: row(rows, "SET").rps };
    },
  };
}

export const newConnectionsWorkload: Workload = {
  key: "newconn",
  name: "redis PING, new connection each",
  figures: [{ id: "ping_newconn_rps", label: "PING, keep-alive off", unit: "conn/s", better: "higher" }],
  quick: false,
  skip: () => undefined,
  async run(ctx) {
    const args = ["-c", "50", "-k", "0", "-t", "ping_mbulk"];
    // A warm-up round first, not counted: at ~10k connections/s a counted round of 10,000 lasted about a
    // second, so a JIT runtime's first compilations of the connect path were a visible share of it.
    await redisBenchmark(ctx.target.ports.redis, [...args, "-n", "2000"], 60_000);
    const rows = await redisBenchmark(ctx.target.ports.redis, [...args, "-n", ctx.quick ? "5000" : "20000"], 120_000);
    return { ping_newconn_rps: row(rows, "PING_MBULK").rps };
  },
};

export const latencyWorkload: Workload = {
  key: "latency",
  name: "request/response latency (1 client)",
  figures: [
    { id: "latency_p50_ms", label: "GET latency p50 (1 client)", unit: "ms", better: "lower" },
    { id: "latency_p99_ms", label: "GET latency p99 (1 client)", unit: "ms", better: "lower" },
  ],
  quick: false,
  skip: () => undefined,
  async run(ctx) {
    const rows = await redisBenchmark(
      ctx.target.ports.redis,
      ["-c", "1", "-n", ctx.quick ? "5000" : "20000", "-P", "1", "-t", "get"],
      120_000,
    );
    const r = row(rows, "GET");
    return { latency_p50_ms: r.p50, latency_p99_ms: r.p99 };
  },
};
