/** The machine and tool versions a result was taken on, so results from different runs can be compared. */
import { execFileSync } from "node:child_process";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";

export interface MachineInfo {
  cpu_model: string;
  cores: number;
  memory_bytes: number;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return { cpu_model: list[0]?.model ?? "unknown", cores: list.length, memory_bytes: totalmem(), kernel: release() };
}

const REPO = join(import.meta.dirname, "..");

function firstLine(command: string, args: string[], pattern?: RegExp): string {
  try {
    const out = execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    return pick(out, pattern);
  } catch (err) {
    // nginx -v and dnsperf -h print to stderr and may exit non-zero.
    const e = err as { stdout?: string; stderr?: string };
    const text = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    return text ? pick(text, pattern) : "missing";
  }
}

function pick(text: string, pattern?: RegExp): string {
  if (pattern) return pattern.exec(text)?.[0] ?? text.trim().split("\n")[0]!;
  return text.trim().split("\n")[0]!;
}

export function toolVersions(): Record<string, string> {
  return {
    node: process.version,
    bun: firstLine(join(REPO, "node_modules", ".bin", "bun"), ["--version"]),
    deno: firstLine(join(REPO, "node_modules", ".bin", "deno"), ["--version"]),
    nginx: firstLine("nginx", ["-v"]),
    haproxy: firstLine("haproxy", ["-v"]),
    redis: firstLine("redis-server", ["--version"]),
    "redis-benchmark": firstLine("redis-benchmark", ["--version"]),
    iperf3: firstLine("iperf3", ["--version"]),
    dnsmasq: firstLine("dnsmasq", ["--version"]),
    dnsperf: firstLine("dnsperf", ["-h"], /Version [\d.]+/),
    pgbench: firstLine("pgbench", ["--version"]),
    sluice_commit: firstLine("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]),
  };
}
