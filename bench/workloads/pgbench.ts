/** PostgreSQL select-only through the proxy: pgbench -S -c 8 -T 10 on a temporary scale-1 database. */
import { runTool } from "../processes.ts";
import type { Workload } from "./workload.ts";

export const pgbenchWorkload: Workload = {
  key: "pgbench",
  name: "pgbench select-only",
  figures: [{ id: "pgbench_tps", label: "pgbench -S -c 8", unit: "tps", better: "higher" }],
  quick: false,
  skip: (ctx) => (ctx.target.ports.pg === undefined ? (ctx.backends.pgError ?? "no pgbench database") : undefined),
  async run(ctx) {
    const seconds = ctx.quick ? 3 : 10;
    const out = await runTool(
      "pgbench",
      [
        "-S",
        "-c",
        "8",
        "-j",
        "2",
        "-T",
        String(seconds),
        "-n",
        "-h",
        "127.0.0.1",
        "-p",
        String(ctx.target.ports.pg),
        "-U",
        "postgres",
        ctx.backends.pgDatabase!,
      ],
      (seconds + 30) * 1000,
    );
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
    if (!tps) throw new Error(`pgbench printed no tps: ${out.slice(0, 300)}`);
    return { pgbench_tps: Number(tps[1]) };
  },
};
