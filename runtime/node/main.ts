/** Node.js entry point: `node --import tsx runtime/node/main.ts [COMMAND] [FLAGS]`. */

import { runCli } from "../../src/cli/main.ts";
import type { RuntimeEdge } from "../../src/cli/runtime-edge.ts";
import { serveHttp, serveStatus } from "./http.ts";
import { createNodeSocketAdapter } from "./socket-adapter.ts";

const edge: RuntimeEdge = {
  runtime: "node",
  runtimeVersion: process.versions.node,
  // built only when a data plane starts: the other commands open no stream sockets
  socketAdapter: async () => createNodeSocketAdapter(),
  serveHttp,
  serveStatus,
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
