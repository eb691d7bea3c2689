/** RSS and open file descriptors of the Sluice processes, sampled from /proc through the run. */
import { readdirSync, readFileSync } from "node:fs";
import type { Sample } from "./verdict.ts";

export interface ProcessSeries {
  name: string;
  pid: number;
  /** seconds into the run of the first sample */
  firstS: number;
  rss: Sample[];
  fds: Sample[];
}

/** VmRSS in bytes and the number of open fds, or undefined once the process is gone. */
export function readProcess(pid: number): { rss: number; fds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+) kB/.exec(status);
    if (!kb) return undefined;
    return { rss: Number(kb[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** One series per process; a restarted role starts a new series (`control-plane#2`). */
export class ResourceSampler {
  readonly series = new Map<number, ProcessSeries>();
  private readonly runs = new Map<string, number>();

  sample(nowS: number, processes: readonly { name: string; pid: number }[]): void {
    for (const { name, pid } of processes) {
      const figures = readProcess(pid);
      if (!figures) continue;
      let s = this.series.get(pid);
      if (!s) {
        const run = (this.runs.get(name) ?? 0) + 1;
        this.runs.set(name, run);
        s = { name: run === 1 ? name : `${name}#${run}`, pid, firstS: nowS, rss: [], fds: [] };
        this.series.set(pid, s);
      }
      const t = nowS - s.firstS;
      s.rss.push({ t, value: figures.rss });
      s.fds.push({ t, value: figures.fds });
    }
  }
}
