/**
 * Adapter benchmark: a minimal proxy (test/runtimes/minimal-proxy.ts) on each runtime and adapter in
 * front of Redis on 127.0.0.1:6379, measured with redis-benchmark: GET at -P 1 and -P 16 (50 clients),
 * and PING_INLINE with -k 0 (a new connection per request). Prints a Markdown table.
 *   node --import tsx test/runtimes/adapter-throughput.ts [ROUNDS] [ADAPTER,...]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const proxy = join(root, "test/runtimes/minimal-proxy.ts");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const denoRun = [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only", proxy];

const targets: Record<string, string[]> = {
  node: [process.execPath, "--import", "tsx", proxy, "node"],
  "bun-native": [bun, proxy, "bun-native"],
  "bun-node-compat": [bun, proxy, "bun-node-compat"],
  "deno-native": [...denoRun, "deno-native"],
  "deno-node-compat": [...denoRun, "deno-node-compat"],
};

const loads: [label: string, args: string[]][] = [
  ["GET -P1", ["-t", "get", "-n", "100000", "-c", "50", "-P", "1"]],
  ["GET -P16", ["-t", "get", "-n", "100000", "-c", "50", "-P", "16"]],
  ["PING new conn", ["-t", "ping_inline", "-n", "20000", "-c", "50", "-k", "0"]],
];

function startProxy(command: string[]): Promise<{ child: ChildProcess; port: number }> {
  const [program, ...args] = command;
  const child = spawn(program!, [...args, "6379"], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(" ")} did not start`)), 20_000);
    child.stdout!.once("data", (data: Buffer) => {
      clearTimeout(timer);
      const match = /listening (\d+)/.exec(data.toString());
      if (match) resolvePort({ child, port: Number(match[1]) });
      else reject(new Error(`unexpected output: ${data}`));
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
const chosen = process.argv[3]?.split(",") ?? Object.keys(targets);
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
      child.kill();
    }
    console.error(`round ${round + 1} ${name}: ${results[name]!.map((runs) => runs.at(-1)).join(" / ")}`);
  }
}
const direct = loads.map(([, args]) => requestsPerSecond(6379, args));
console.log(`| adapter | ${loads.map(([label]) => `${label} rps`).join(" | ")} |`);
console.log(`|---|${loads.map(() => "---:").join("|")}|`);
console.log(`| direct (no proxy) | ${direct.map((value) => Math.round(value).toLocaleString("en")).join(" | ")} |`);
for (const name of chosen) {
  const cells = results[name]!.map((runs) => Math.round(median(runs)).toLocaleString("en"));
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
