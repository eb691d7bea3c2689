/** Bulk throughput: iperf3 TCP, client → server, 1 or 8 parallel streams, bounded by -t. */
import { runTool } from "../processes.ts";
import type { Workload } from "./workload.ts";

export function iperfWorkload(streams: 1 | 8): Workload {
  const id = `iperf_${streams}_gbps`;
  return {
    key: `iperf${streams}`,
    name: `iperf3 ${streams} stream${streams > 1 ? "s" : ""}`,
    figures: [{ id, label: `bulk ${streams} stream${streams > 1 ? "s" : ""}`, unit: "Gbit/s", better: "higher" }],
    quick: streams === 1,
    skip: () => undefined,
    async run(ctx) {
      const seconds = ctx.quick ? 3 : 5;
      const out = await runTool(
        "iperf3",
        [
          "-c",
          "127.0.0.1",
          "-p",
          String(ctx.target.ports.iperf),
          "-t",
          String(seconds),
          "-P",
          String(streams),
          "-J",
          "--connect-timeout",
          "3000",
        ],
        (seconds + 20) * 1000,
      );
      const report = JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as {
        end?: { sum_received?: { bits_per_second?: number } };
        error?: string;
      };
      const bps = report.end?.sum_received?.bits_per_second;
      if (!bps) throw new Error(`iperf3 gave no result${report.error ? `: ${report.error}` : ""}`);
      return { [id]: bps / 1e9 };
    },
  };
}
