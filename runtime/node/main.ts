/** Node.js entry point: `node --import tsx runtime/node/main.ts [COMMAND] [FLAGS]`. */

import { runCli } from "../../src/cli/main.ts";
import type { RuntimeEdge } from "../../src/cli/runtime-edge.ts";
import { serveHttp } from "./http.ts";
import { createNodeSocketAdapter } from "./socket-adapter.ts";
import { createWorkerProcesses, nodeHasReusePort } from "./worker-processes.ts";

const reusePort = nodeHasReusePort(process.versions.node);

const edge: RuntimeEdge = {
  runtime: "node",
  runtimeVersion: process.versions.node,
  // built only when a data plane starts: the other commands open no stream sockets
  socketAdapter: async () => createNodeSocketAdapter(),
  serveHttp,
  workers: () =>
    createWorkerProcesses({
      launcher: "cluster",
      reusePort,
      portSharing: reusePort
        ? "SO_REUSEPORT (each worker binds its own socket)"
        : "cluster shared handles (Node < 22.12 has no SO_REUSEPORT)",
    }),
  onShutdownSignal(handler) {
    let fired = false;
    const once = (signal: string) => {
      if (fired) return;
      fired = true;
      handler(signal);
    };
    process.once("SIGTERM", once);
    process.once("SIGINT", once);
  },
  exit(code: number): never {
    process.exit(code);
  },
};

await runCli(process.argv.slice(2), edge);
