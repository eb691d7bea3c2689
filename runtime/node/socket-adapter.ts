/** Node.js socket adapter (`node:net`, `node:dgram`). Placeholder until the data-plane work lands. */
import type { SocketAdapter } from "../../src/proxy/adapter.ts";

export function createNodeSocketAdapter(): SocketAdapter {
  throw new Error("the node socket adapter is not built yet");
}
