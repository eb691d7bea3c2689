/**
 * The adapter conformance suite (`suite.ts`) under each runtime and adapter, each in its own process:
 * the Node adapter under node (on libuv handles, and on `net.Socket` as it falls back to); Bun's native and node-compat adapters under bun; Deno's native and
 * node-compat adapters under deno. A behaviour difference between runtimes is a bug.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const runner = join(root, "test/conformance/run.ts");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const RUN_TIMEOUT_MS = 120_000;

const cases: { adapter: string; command: string[] }[] = [
  { adapter: "node", command: [process.execPath, "--import", "tsx", runner, "node"] },
  { adapter: "node-net", command: [process.execPath, "--import", "tsx", runner, "node-net"] },
  { adapter: "bun-native", command: [bun, runner, "bun-native"] },
  { adapter: "bun-node-compat", command: [bun, runner, "bun-node-compat"] },
  {
    adapter: "deno-native",
    command: [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only", runner, "deno-native"],
  },
  {
    adapter: "deno-node-compat",
    command: [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only", runner, "deno-node-compat"],
  },
];

let blackhole: ChildProcess | undefined;
let blackholePort = "";

before(async () => {
  // python3 holds a port that never answers a SYN, for the connect-timeout check.
  const child = spawn("python3", [join(root, "test/conformance/blackhole.py")], { stdio: ["pipe", "pipe", "pipe"] });
  blackhole = child;
  blackholePort = await new Promise<string>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("blackhole.py printed no port within 10 s")), 10_000);
    child.once("error", (error) =>
      reject(new Error(`python3 is needed for the connect-timeout check (scripts/deps/runtimes.sh): ${error.message}`)),
    );
    child.stdout.once("data", (data: Buffer) => {
      clearTimeout(timer);
      resolvePort(data.toString().trim());
    });
  });
});

after(() => {
  blackhole?.stdin?.end();
  blackhole?.kill();
});

function runSuite(command: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const [program, ...args] = command;
    const child = spawn(program!, args, {
      cwd: root,
      env: { ...process.env, SLUICE_BLACKHOLE_PORT: blackholePort, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      output += data.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

for (const { adapter, command } of cases) {
  test(`socket adapter conformance: ${adapter}`, async () => {
    assert.ok(existsSync(command[0]!), `${command[0]} is missing: run npm install (bun and deno are devDependencies)`);
    const { code, output } = await runSuite(command);
    const failures = output.split("\n").filter((line) => line.startsWith("not ok"));
    assert.deepEqual(failures, [], `${adapter} failed checks:\n${output}`);
    assert.match(output, /# \d+ passed, 0 failed/, `${adapter} did not finish:\n${output}`);
    assert.equal(code, 0, `${adapter} exited with ${code}:\n${output}`);
  });
}
