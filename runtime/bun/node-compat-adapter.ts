/**
 * The Node adapter (`node:net`, `node:dgram`) running on Bun's Node compatibility layer, selected with
 * `--runtime-adapter node-compat`. The name and runtime differ, so logs and `/readyz` say what runs, and
 * listeners pause at the fd limit (runtime/node/fd-limit-pause.ts).
 */
/// <reference path="./bun-api.d.ts" />
import type { SocketAdapter } from "../../src/proxy/adapter.ts";

export async function createBunNodeCompatAdapter(): Promise<SocketAdapter> {
  const { createNodeSocketAdapter } = await import("../node/socket-adapter.ts");
  const { processFdLimitPause } = await import("../node/fd-limit-pause.ts");
  // its node:net listeners spin a core at the fd limit: paused there, listening again once fds are free
  const node = createNodeSocketAdapter({ pauseAtFdLimit: processFdLimitPause });
  return {
    name: "bun-node-compat",
    runtime: `bun ${Bun.version}`,
    listenTcp: (options, onConnection) => node.listenTcp(options, onConnection),
    connectTcp: (options) => node.connectTcp(options),
    bindUdp: (options, onMessage, onError) => node.bindUdp(options, onMessage, onError),
    startServerTls: (connection, options) => node.startServerTls(connection, options),
    connectTls: (options, tls) => node.connectTls(options, tls),
  };
}
