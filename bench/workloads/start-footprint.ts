/**
 * Start-up time and idle footprint of Sluice's own processes, each started afresh by the workload on the
 * target's runtime (the target's running process is left alone):
 * - `sluice start` on a fresh data dir, stopped, then again on that (now existing) data dir;
 * - `sluice gateway --config` with one route.
 * Ready time runs from spawning the process to the first 200 from /readyz (polled every 10 ms); RSS is the
 * process tree's VmRSS after 5 s idle once ready.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { freePort } from "../../test/fixtures/ports.ts";
import { type BenchProcess, delay, startProcess, tail, treeRssBytes } from "../processes.ts";
import { REPO, startCommand } from "../targets/sluice.ts";
import type { SluiceLaunch } from "../targets/target.ts";
import type { Workload, WorkloadContext } from "./workload.ts";

const IDLE_MS = 5_000;
const READY_TIMEOUT_MS = 300_000;

interface Measured {
  readyMs: number;
  rssMib: number;
}

/** Starts Sluice with `args`, times it to ready, waits IDLE_MS, takes the RSS and stops it (SIGTERM). */
async function measure(launch: SluiceLaunch, name: string, args: string[]): Promise<Measured> {
  const statusAddr = `127.0.0.1:${await freePort()}`;
  const { command, args: base } = startCommand(launch.runtime);
  const adapter = launch.adapter ? ["--runtime-adapter", launch.adapter] : [];
  const started = performance.now();
  const proc = startProcess(name, command, [...base, ...args, ...adapter, "--status-addr", statusAddr], {
    cwd: REPO,
    env: { ...process.env, SLUICE_ADMIN_KEY: "bench-footprint-admin-key", SLUICE_LOG_LEVEL: "warn" },
  });
  try {
    const readyMs = (await untilReady(proc, statusAddr)) - started;
    await delay(IDLE_MS);
    return { readyMs, rssMib: treeRssBytes(proc.pid) / 2 ** 20 };
  } finally {
    await proc.stop();
  }
}

async function untilReady(proc: BenchProcess, statusAddr: string): Promise<number> {
  let exitCode: string | undefined;
  void proc.exited.then((code) => {
    exitCode = code;
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (exitCode !== undefined)
      throw new Error(`${proc.name} exited (${exitCode}) before ready: ${tail(proc.output())}`);
    try {
      const res = await fetch(`http://${statusAddr}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    await delay(10);
  }
  throw new Error(`${proc.name} not ready within ${READY_TIMEOUT_MS / 1000} s: ${tail(proc.output())}`);
}

const skipUnlessSluice = (ctx: WorkloadContext) => (ctx.targetSpec.sluice ? undefined : "not a Sluice target");

export const startWorkload: Workload = {
  key: "start",
  name: "sluice start: ready time and idle RSS",
  figures: [
    { id: "start_ready_fresh_ms", label: "start → ready, fresh data dir", unit: "ms", better: "lower" },
    { id: "start_ready_ms", label: "start → ready, existing data dir", unit: "ms", better: "lower" },
    { id: "start_rss_fresh_mib", label: "start idle RSS, fresh data dir", unit: "MiB", better: "lower" },
    { id: "start_rss_mib", label: "start idle RSS, existing data dir", unit: "MiB", better: "lower" },
  ],
  quick: false,
  skip: skipUnlessSluice,
  async run(ctx) {
    const launch = ctx.targetSpec.sluice!;
    const dataDir = mkdtempSync(join(tmpdir(), `sluice-bench-start-${ctx.targetSpec.name}-`));
    const args = async () => ["start", "--admin-addr", `127.0.0.1:${await freePort()}`, "--data-dir", dataDir];
    try {
      const fresh = await measure(launch, `${ctx.targetSpec.name} start (fresh)`, await args());
      const existing = await measure(launch, `${ctx.targetSpec.name} start (existing)`, await args());
      return {
        start_ready_fresh_ms: fresh.readyMs,
        start_ready_ms: existing.readyMs,
        start_rss_fresh_mib: fresh.rssMib,
        start_rss_mib: existing.rssMib,
      };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

export const gatewayIdleWorkload: Workload = {
  key: "gwidle",
  name: "sluice gateway: ready time and idle RSS",
  figures: [
    { id: "gateway_ready_ms", label: "gateway → ready", unit: "ms", better: "lower" },
    { id: "gateway_rss_mib", label: "gateway idle RSS", unit: "MiB", better: "lower" },
  ],
  quick: false,
  skip: skipUnlessSluice,
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), `sluice-bench-gateway-${ctx.targetSpec.name}-`));
    const file = join(dir, "sluice.yaml");
    writeFileSync(
      file,
      [
        "services:",
        "  - name: bench-idle",
        "    upstream:",
        "      scheme: tcp",
        "      nodes:",
        `        - { host: 127.0.0.1, port: ${ctx.backends.redisPort}, weight: 1 }`,
        "    stream_routes:",
        "      - name: bench-idle",
        `        server_port: ${await freePort()}`,
        "",
      ].join("\n"),
    );
    try {
      const args = ["gateway", "--config", file, "--data-dir", join(dir, "data"), "--listen-addr", "127.0.0.1"];
      const idle = await measure(ctx.targetSpec.sluice!, `${ctx.targetSpec.name} gateway`, args);
      return { gateway_ready_ms: idle.readyMs, gateway_rss_mib: idle.rssMib };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
