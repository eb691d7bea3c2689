/**
 * `npm run bench [-- --quick] [-- --only direct,nginx-16k,sluice-node] [-- --runs N]`
 *
 * Runs the same bounded loads through a direct connection, nginx stream, HAProxy and Sluice on every runtime
 * and adapter, in rounds (every target once per round, so ratios are taken on the same machine state), then
 * prints the medians and ratios and writes bench/results/<timestamp>.json. See docs/performance.md.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Backends, startBackends } from "./backends/index.ts";
import { machineInfo, toolVersions } from "./machine.ts";
import { hardFileLimit, stopEveryProcess, tail } from "./processes.ts";
import { renderTables, summarise, type TargetOutcome } from "./report.ts";
import { adapterFloorTarget } from "./targets/adapter-floor.ts";
import { directTarget } from "./targets/direct.ts";
import { haproxyTarget } from "./targets/haproxy.ts";
import { nginxTarget } from "./targets/nginx.ts";
import { sluiceTarget } from "./targets/sluice.ts";
import { sluiceGatewayTarget } from "./targets/sluice-gateway.ts";
import type { RunningTarget, Target } from "./targets/target.ts";
import { publishWorkload, routeScaleWorkload } from "./workloads/control-plane.ts";
import { dnsWorkload } from "./workloads/dns.ts";
import { idleMemoryWorkload, rssAfterLoadWorkload } from "./workloads/idle-memory.ts";
import { iperfWorkload } from "./workloads/iperf.ts";
import { pgbenchWorkload } from "./workloads/pgbench.ts";
import { latencyWorkload, newConnectionsWorkload, redisRequestsWorkload } from "./workloads/redis.ts";
import { gatewayIdleWorkload, startWorkload } from "./workloads/start-footprint.ts";
import { tlsBulkWorkload, tlsHandshakeWorkload } from "./workloads/tls.ts";
import type { Workload, WorkloadContext } from "./workloads/workload.ts";

const TARGETS: Target[] = [
  directTarget,
  nginxTarget("nginx-16k", "16k"),
  nginxTarget("nginx-256k", "256k"),
  haproxyTarget("haproxy"),
  sluiceTarget("sluice-node", "node"),
  sluiceTarget("sluice-bun-native", "bun", "native"),
  sluiceTarget("sluice-bun-node-compat", "bun", "node-compat"),
  sluiceTarget("sluice-deno-native", "deno", "native"),
  sluiceTarget("sluice-deno-node-compat", "deno", "node-compat"),
  // every core: two data planes against nginx's two workers and HAProxy's two threads
  nginxTarget("nginx-2w", "16k", 2),
  haproxyTarget("haproxy-2t", 2),
  sluiceTarget("sluice-node-w2", "node", undefined, 2),
  sluiceTarget("sluice-bun-w2", "bun", "native", 2),
  sluiceTarget("sluice-deno-w2", "deno", "native", 2),
];
/**
 * Opt-in with --only: the data plane alone (`sluice gateway --config`), without admin API and PGlite; and the
 * Bun single binary (built by the harness).
 */
const EXTRA_TARGETS: Target[] = [
  sluiceGatewayTarget("sluice-node-gateway", "node"),
  sluiceGatewayTarget("sluice-bun-native-gateway", "bun", "native"),
  sluiceGatewayTarget("sluice-bun-node-compat-gateway", "bun", "node-compat"),
  sluiceGatewayTarget("sluice-deno-native-gateway", "deno", "native"),
  sluiceGatewayTarget("sluice-deno-node-compat-gateway", "deno", "node-compat"),
  sluiceTarget("sluice-binary", "binary"),
  // the runtime's floor: its socket adapter bridging sockets with no pipeline (no TLS, no control plane)
  adapterFloorTarget("floor-node", "node"),
  adapterFloorTarget("floor-bun-native", "bun-native"),
  adapterFloorTarget("floor-deno-native", "deno-native"),
];
const QUICK_TARGETS = ["direct", "nginx-16k", "sluice-node"];

// Order matters: idle memory runs first on a fresh process, RSS after load last.
const WORKLOADS: Workload[] = [
  idleMemoryWorkload,
  iperfWorkload(1),
  iperfWorkload(8),
  redisRequestsWorkload(1),
  redisRequestsWorkload(16),
  newConnectionsWorkload,
  latencyWorkload,
  dnsWorkload,
  tlsHandshakeWorkload,
  tlsBulkWorkload,
  pgbenchWorkload,
  publishWorkload,
  routeScaleWorkload,
  rssAfterLoadWorkload,
  startWorkload,
  gatewayIdleWorkload,
];

const REQUIRED_TOOLS = [
  "openssl",
  "socat",
  "nginx",
  "haproxy",
  "iperf3",
  "redis-benchmark",
  "redis-server",
  "dnsmasq",
  "dnsperf",
  "pgbench",
  "psql",
];

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function missingTools(): string[] {
  return REQUIRED_TOOLS.filter(
    (tool) => spawnSync("bash", ["-c", `command -v ${tool} || [ -x /usr/sbin/${tool} ]`]).status !== 0,
  );
}

/** The idle-connection workload holds 10,000 sockets in this process: re-run under the hard fd limit. */
function reexecWithFileLimit(): boolean {
  if (process.env.SLUICE_BENCH_FD_RAISED) return false;
  const soft = Number(execFileSync("bash", ["-c", "ulimit -Sn"], { encoding: "utf8" }).trim());
  if (!(soft < hardFileLimit())) return false;
  const result = spawnSync(
    "bash",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: "inherit", env: { ...process.env, SLUICE_BENCH_FD_RAISED: "1" } },
  );
  process.exit(result.status ?? 1);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      runs: { type: "string" },
      workloads: { type: "string" },
      profile: { type: "boolean", default: false },
      routes: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      `npm run bench -- [--quick] [--only ${[...TARGETS, ...EXTRA_TARGETS].map((t) => t.name).join(",")}] [--runs N] [--workloads ${WORKLOADS.map((w) => w.key).join(",")}] [--profile] [--routes N (default 10000)]\n`,
    );
    return;
  }
  reexecWithFileLimit();
  const quick = values.quick ?? false;
  const extraRoutes = Number(values.routes ?? 10_000);
  if (!Number.isInteger(extraRoutes) || extraRoutes < 1) throw new Error(`--routes must be a positive integer`);
  const runs = Number(values.runs ?? (quick ? 1 : 3));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not "${values.runs}"`);
  const only =
    values.only
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean) ?? (quick ? QUICK_TARGETS : undefined);
  const known = [...TARGETS, ...EXTRA_TARGETS];
  const unknown = (only ?? []).filter((n) => !known.some((t) => t.name === n));
  if (unknown.length)
    throw new Error(`unknown target(s) ${unknown.join(", ")}; known: ${known.map((t) => t.name).join(", ")}`);
  const targets = only ? known.filter((t) => only.includes(t.name)) : TARGETS;
  const keys = values.workloads
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknownKeys = (keys ?? []).filter((k) => !WORKLOADS.some((w) => w.key === k));
  if (unknownKeys.length)
    throw new Error(`unknown workload(s) ${unknownKeys.join(", ")}; known: ${WORKLOADS.map((w) => w.key).join(", ")}`);
  const workloads = keys
    ? WORKLOADS.filter((w) => keys.includes(w.key))
    : quick
      ? WORKLOADS.filter((w) => w.quick)
      : WORKLOADS;

  const missing = missingTools();
  if (missing.length) {
    log(`installing missing tools (${missing.join(", ")}) with bench/install-deps.sh`);
    const install = spawnSync("bash", [join(import.meta.dirname, "install-deps.sh")], { stdio: "inherit" });
    if (install.status !== 0) throw new Error("bench/install-deps.sh failed; run it as root on Debian");
  }

  const started = new Date();
  const stamp = started
    .toISOString()
    .replaceAll(":", "-")
    .replace(/\.\d+Z$/, "Z");
  const resultsDir = join(import.meta.dirname, "results");
  const profileDir = values.profile ? join(resultsDir, `profiles-${stamp}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  log(
    `targets: ${targets.map((t) => t.name).join(", ")}; ${runs} run(s); workloads: ${workloads.map((w) => w.name).join(", ")}`,
  );
  let backends: Backends | undefined;
  let running: RunningTarget | undefined;
  const stopAll = async () => {
    await running?.stop().catch(() => undefined);
    await backends?.stop().catch(() => undefined);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping every process the harness started`);
      void stopAll()
        .then(stopEveryProcess)
        .then(() => process.exit(130));
    });
  }

  const outcomes: TargetOutcome[] = targets.map((t) => ({
    name: t.name,
    kind: t.kind,
    runs: {},
    workload_errors: {},
    skipped: {},
  }));
  try {
    backends = await startBackends({
      withPg: workloads.includes(pgbenchWorkload),
      withDns: workloads.includes(dnsWorkload),
      withTls: workloads.includes(tlsHandshakeWorkload) || workloads.includes(tlsBulkWorkload),
    });
    if (backends.pgError) log(`pgbench database unavailable: ${backends.pgError}`);
    for (let round = 1; round <= runs; round++) {
      for (const [i, target] of targets.entries()) {
        const outcome = outcomes[i]!;
        if (outcome.error) continue;
        log(`round ${round}/${runs}: ${target.name} starting`);
        try {
          running = await target.start(backends, { profileDir });
        } catch (err) {
          outcome.error = tail((err as Error).message, 800);
          log(`${target.name}: ERROR ${outcome.error}`);
          continue;
        }
        const ctx: WorkloadContext = { target: running, targetSpec: target, backends, quick, runs, extraRoutes };
        for (const workload of workloads) {
          if (workload.once && round > 1) continue;
          const reason = workload.skip(ctx);
          if (reason) {
            outcome.skipped[workload.name] = reason;
            continue;
          }
          try {
            const figures = await workload.run(ctx);
            for (const [id, value] of Object.entries(figures)) {
              outcome.runs[id] = [...(outcome.runs[id] ?? []), value];
            }
            log(
              `${target.name} ${workload.name}: ${Object.entries(figures)
                .map(([id, v]) => `${id}=${Number(v.toFixed(3))}`)
                .join(" ")}`,
            );
          } catch (err) {
            const output = running.output();
            outcome.workload_errors[workload.name] = tail(
              `${(err as Error).message}${output ? ` | ${target.name} output: ${tail(output, 300)}` : ""}`,
              800,
            );
            log(`${target.name} ${workload.name}: ERROR ${outcome.workload_errors[workload.name]}`);
          }
        }
        await running.stop();
        running = undefined;
      }
    }
  } finally {
    await stopAll();
  }

  const specs = workloads.flatMap((w) => w.figures);
  const results = summarise(outcomes, specs);
  process.stdout.write(`\n${renderTables(results, specs)}\n`);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        options: {
          quick,
          runs,
          profile_dir: profileDir,
          targets: targets.map((t) => t.name),
          workloads: workloads.map((w) => w.name),
        },
        machine: machineInfo(),
        versions: toolVersions(),
        results,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nresults written to ${file}\n`);
  if (profileDir) process.stdout.write(`CPU profiles of the Sluice targets in ${profileDir}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
