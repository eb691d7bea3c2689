/**
 * A TCP echo listener (through one socket adapter) and the runtime's HTTP server, for fd-limit.test.ts.
 * Runs under node, bun or deno: `RUNTIME fd-limit-child.ts ADAPTER`. Prints `ready TCP_PORT HTTP_ADDR`;
 * on stdin `fill` opens files until the process hits its fd limit (`full N`), on `free` closes them (`freed`).
 */
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { adapterNamed } from "../conformance/adapters.ts";

// As the entry points do at start-up: a signal handler registered later, at the fd limit, needs an fd
// (Deno panics without one).
process.on("SIGTERM", () => process.exit(0));
const name = process.argv[2] ?? "";
const adapter = await adapterNamed(name);
const runtime = name.split("-")[0]!;
// computed so that the Node type-check of test/ does not follow it into runtime/bun and runtime/deno
const httpModules: Record<string, [string, string]> = {
  node: ["../../runtime/node/http.ts", "serveHttp"],
  bun: ["../../runtime/bun/http.ts", "serveHttpWithBun"],
  deno: ["../../runtime/deno/http.ts", "serveHttpWithDeno"],
};
const [path, factory] = httpModules[runtime]!;
const serve = (await import(path))[factory] as (
  f: FetchHandler,
  host: string,
  port: number,
) => Promise<HttpServerHandle>;
const http = await serve(() => new Response("ok"), "127.0.0.1", 0);

const listener = await adapter.listenTcp({ host: "127.0.0.1", port: 0 }, (connection) => {
  connection.setHandlers({
    onData: (chunk) => {
      connection.write(chunk);
    },
    onEnd: () => connection.end(),
    onDrain() {},
    onClose() {},
  });
});

const held: number[] = [];
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  if (text.includes("fill")) {
    try {
      for (;;) held.push(openSync("/dev/null", "r"));
    } catch {
      console.log(`full ${held.length}`);
    }
  }
  if (text.includes("free")) {
    for (const fd of held.splice(0)) closeSync(fd);
    console.log("freed");
  }
});
console.log(`ready ${listener.address.port} ${http.addr}`);
