/**
 * `sluice` on Bun: `bun runtime/bun/main.ts ARGS` (npm run start:bun -- ARGS), and the entry point of the
 * single binary `dist/sluice` (npm run build:binary).
 */
/// <reference path="./bun-api.d.ts" />
import { runCli } from "../../src/cli/main.ts";
import type { RuntimeEdge } from "../../src/cli/runtime-edge.ts";
import { createWorkerProcesses } from "../node/worker-processes.ts";
import { serveHttpWithBun } from "./http.ts";
import { createBunNodeCompatAdapter } from "./node-compat-adapter.ts";
import { createBunSocketAdapter } from "./socket-adapter.ts";

const edge: RuntimeEdge = {
  runtime: "bun",
  runtimeVersion: Bun.version,
  async socketAdapter(kind) {
    return kind === "node-compat" ? createBunNodeCompatAdapter() : createBunSocketAdapter();
  },
  serveHttp: serveHttpWithBun,
  workers: () =>
    createWorkerProcesses({
      launcher: "cluster",
      reusePort: true,
      portSharing: "SO_REUSEPORT (each worker binds its own socket)",
    }),
  onShutdownSignal(handler) {
    let called = false;
    const once = (signal: string) => {
      if (called) return;
      called = true;
      handler(signal);
    };
    process.once("SIGTERM", once);
    process.once("SIGINT", once);
  },
  exit(code) {
    process.exit(code);
  },
};

// the store collects after PGlite's initdb wherever `globalThis.gc` exists (Node and Deno run with
// --expose-gc); Bun's own collector call takes its place
(globalThis as { gc?: () => void }).gc ??= () => (Bun as unknown as { gc(force: boolean): void }).gc(true);

await runCli(process.argv.slice(2), edge);
