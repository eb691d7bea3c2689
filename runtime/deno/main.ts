/**
 * `sluice` on Deno: `deno run -A --unstable-net runtime/deno/main.ts ARGS` (`npm run start:deno -- ARGS`).
 * Packages come from the project's node_modules (deno.json
 * `"nodeModulesDir": "manual"`), so nothing is downloaded at run time.
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/main.ts";
import type { RuntimeEdge } from "../../src/cli/runtime-edge.ts";
import { createWorkerProcesses } from "../node/worker-processes.ts";
import { serveHttpWithDeno } from "./http.ts";
import { createDenoNodeCompatAdapter } from "./node-compat-adapter.ts";
import { createDenoSocketAdapter } from "./socket-adapter.ts";

const edge: RuntimeEdge = {
  runtime: "deno",
  runtimeVersion: Deno.version.deno,
  async socketAdapter(kind) {
    return kind === "node-compat" ? createDenoNodeCompatAdapter() : createDenoSocketAdapter();
  },
  serveHttp: serveHttpWithDeno,
  // no node:cluster on Deno: workers are forks of this entry point, each listener its own socket with
  // SO_REUSEPORT (Deno.listen `reusePort`, Linux)
  workers: () =>
    createWorkerProcesses({
      launcher: { entry: fileURLToPath(new URL("./main.ts", import.meta.url)), execArgv: [] },
      reusePort: true,
      portSharing: "SO_REUSEPORT for TCP (each worker binds its own socket); UDP: SO_REUSEADDR, one worker receives",
    }),
  onShutdownSignal(handler) {
    let called = false;
    const once = (signal: Deno.Signal) => {
      if (called) return;
      called = true;
      handler(signal);
    };
    Deno.addSignalListener("SIGTERM", () => once("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => once("SIGINT"));
  },
  exit(code) {
    // node:process's exit runs the `exit` listeners, where pino writes out its pending log lines;
    // Deno.exit skips them and the last lines (the final access lines, `stopped`) are lost.
    process.exit(code);
  },
};

await runCli(Deno.args, edge);
