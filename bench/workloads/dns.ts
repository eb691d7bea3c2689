/** UDP request rate: dnsperf A queries through a udp route to dnsmasq, bounded by -l seconds. */
import { runTool } from "../processes.ts";
import type { Workload } from "./workload.ts";

export const dnsWorkload: Workload = {
  key: "dns",
  name: "UDP DNS queries",
  figures: [
    { id: "dns_qps", label: "UDP DNS", unit: "q/s", better: "higher" },
    { id: "dns_lost_pct", label: "UDP DNS lost", unit: "%", better: "lower" },
  ],
  quick: false,
  skip: (ctx) => (ctx.target.ports.dns === undefined ? "no UDP proxy" : undefined),
  async run(ctx) {
    const seconds = ctx.quick ? 3 : 5;
    const out = await runTool(
      "dnsperf",
      [
        "-s",
        "127.0.0.1",
        "-p",
        String(ctx.target.ports.dns),
        "-d",
        ctx.backends.dnsQueryFile,
        "-l",
        String(seconds),
        "-c",
        "4",
        "-q",
        "64",
        "-t",
        "1",
      ],
      (seconds + 20) * 1000,
    );
    const qps = /Queries per second:\s+([\d.]+)/.exec(out);
    const lost = /Queries lost:\s+\d+ \(([\d.]+)%\)/.exec(out);
    if (!qps) throw new Error(`dnsperf printed no rate: ${out.slice(0, 300)}`);
    return { dns_qps: Number(qps[1]), dns_lost_pct: lost ? Number(lost[1]) : 0 };
  },
};
