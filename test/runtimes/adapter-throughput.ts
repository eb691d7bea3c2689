/**
 * Adapter benchmark: a minimal proxy (test/runtimes/minimal-proxy.ts, mode `minimal`) or the whole
 * gateway (`sluice gateway --config`, mode `gateway`) on each runtime and adapter in front of Redis on
 * 127.0.0.1:6379, measured with redis-benchmark: GET at -P 1 and -P 16 (50 clients), and PING_INLINE with
 * -k 0 (a new connection per request). Rounds interleave the targets. Prints a Markdown table of medians.
 *   node --import tsx test/runtimes/adapter-throughput.ts [ROUNDS] [ADAPTER,...|all] [minimal|gateway]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../fixtures/ports.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const proxy = join(root, "test/runtimes/minimal-proxy.ts");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const denoRun = [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only"];
const mode = process.argv[4] === "gateway" ? "gateway" : "minimal";

const minimalTargets: Record<string, string[]> = {
  node: [process.execPath, "--import", "tsx", proxy, "node", "6379"],
  "bun-native": [bun, proxy, "bun-native", "6379"],
  "bun-node-compat": [bun, proxy, "bun-node-compat", "6379"],
  "deno-native": [...denoRun, proxy, "deno-native", "6379"],
  "deno-node-compat": [...denoRun, proxy, "deno-node-compat", "6379"],
};

const workDir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
const gatewayFile = join(workDir, "sluice.yaml");
// The gateway logs at warn (no access log per connection), so its status address is chosen here.
const gatewayArgs = (kind: string) => [
  "gateway",
  "--config",
  gatewayFile,
  "--status-addr",
  "STATUS_ADDR",
  "--listen-addr",
  "127.0.0.1",
  "--log-level",
  "warn",
  "--runtime-adapter",
  kind,
];
const gatewayTargets: Record<string, string[]> = {
  node: [process.execPath, "--import", "tsx", "runtime/node/main.ts", ...gatewayArgs("native")],
  "bun-native": [bun, "runtime/bun/main.ts", ...gatewayArgs("native")],
  "bun-node-compat": [bun, "runtime/bun/main.ts", ...gatewayArgs("node-compat")],
  "deno-native": [...denoRun, "runtime/deno/main.ts", ...gatewayArgs("native")],
  "deno-node-compat": [...denoRun, "runtime/deno/main.ts", ...gatewayArgs("node-compat")],
};
const targets = mode === "gateway" ? gatewayTargets : minimalTargets;

const loads: [label: string, args: string[]][] = [
  ["GET -P1", ["-t", "get", "-n", "100000", "-c", "50", "-P", "1"]],
  ["GET -P16", ["-t", "get", "-n", "100000", "-c", "50", "-P", "16"]],
  ["PING new conn", ["-t", "ping_inline", "-n", "20000", "-c", "50", "-k", "0"]],
];

async function startProxy(command: string[]): Promise<{ child: ChildProcess; port: number }> {
  const [program, ...args] = command;
  let routePort = 0;
  const status = `127.0.0.1:${await freePort()}`;
  if (mode === "gateway") {
    routePort = await freePort();
    writeFileSync(
      gatewayFile,
      `services:\n  - name: redis\n    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 6379, weight: 1 }] }\n    stream_routes:\n      - { name: redis, server_port: ${routePort} }\n`,
    );
  }
  const child = spawn(
    program!,
    args.map((arg) => (arg === "STATUS_ADDR" ? status : arg)),
    { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
  );
  if (mode === "gateway") {
    child.stdout!.resume();
    for (let attempt = 0; attempt < 600; attempt++) {
      const ready = await fetch(`http://${status}/readyz`).catch(() => undefined);
      if (ready?.status === 200) return { child, port: routePort };
      await new Promise((wake) => setTimeout(wake, 50));
    }
    child.kill("SIGKILL");
    throw new Error(`${command.join(" ")} was not ready in 30 s`);
  }
  let output = "";
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(" ")} did not start:\n${output}`)), 30_000);
    child.stdout!.on("data", (data: Buffer) => {
      output += data.toString();
      const match = /listening (\d+)/.exec(output);
      if (mode === "minimal" && match) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(match[1]) });
      }
    });
  });
}

function requestsPerSecond(port: number, args: string[]): number {
  const output = execFileSync("redis-benchmark", ["-h", "127.0.0.1", "-p", String(port), "-q", ...args], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const match = /([\d.]+) requests per second/.exec(output.replaceAll("\r", "\n"));
  if (!match) throw new Error(`no rps in: ${output}`);
  return Number(match[1]);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const rounds = Number(process.argv[2] ?? "3");
const chosen = !process.argv[3] || process.argv[3] === "all" ? Object.keys(targets) : process.argv[3].split(",");
const results: Record<string, number[][]> = {};
for (const name of chosen) results[name] = loads.map(() => []);
for (let round = 0; round < rounds; round++) {
  for (const name of chosen) {
    const { child, port } = await startProxy(targets[name]!);
    try {
      loads.forEach(([, args], index) => {
        results[name]![index]!.push(requestsPerSecond(port, args));
      });
    } finally {
      child.stdin!.end();
      child.kill("SIGTERM");
      await new Promise((exited) => child.once("exit", exited));
    }
    console.error(`round ${round + 1} ${name}: ${results[name]!.map((runs) => runs.at(-1)).join(" / ")}`);
  }
}
const direct = loads.map(([, args]) => requestsPerSecond(6379, args));
rmSync(workDir, { recursive: true, force: true });
console.log(`${mode === "gateway" ? "whole gateway" : "minimal proxy"}, ${rounds} rounds, medians`);
console.log(`| adapter | ${loads.map(([label]) => `${label} rps`).join(" | ")} |`);
console.log(`|---|${loads.map(() => "---:").join("|")}|`);
console.log(`| direct (no proxy) | ${direct.map((value) => Math.round(value).toLocaleString("en")).join(" | ")} |`);
for (const name of chosen) {
  const cells = results[name]!.map((runs) => Math.round(median(runs)).toLocaleString("en"));
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
