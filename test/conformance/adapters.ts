/** Every socket adapter by name, for the conformance suite and the adapter benchmark. */
import type { SocketAdapter } from "../../src/proxy/adapter.ts";

/**
 * Where each adapter lives and what builds it. The specifiers are computed so that the Node type-check
 * of `test/` does not follow them into `runtime/bun` and `runtime/deno`, which are typed against their
 * own runtime's globals (checked by `deno check` and `runtime/bun/tsconfig.json`).
 */
const adapterModules: Record<string, [path: string, factory: string, settings?: object]> = {
  node: ["../../runtime/node/socket-adapter.ts", "createNodeSocketAdapter"],
  // Node's `net.Socket` path, which the node adapter falls back to where libuv handles are not available
  "node-net": ["../../runtime/node/socket-adapter.ts", "createNodeSocketAdapter", { netSockets: true }],
  "bun-native": ["../../runtime/bun/socket-adapter.ts", "createBunSocketAdapter"],
  "bun-node-compat": ["../../runtime/bun/node-compat-adapter.ts", "createBunNodeCompatAdapter"],
  "deno-native": ["../../runtime/deno/socket-adapter.ts", "createDenoSocketAdapter"],
  "deno-node-compat": ["../../runtime/deno/node-compat-adapter.ts", "createDenoNodeCompatAdapter"],
};

export async function adapterNamed(name: string): Promise<SocketAdapter> {
  const entry = adapterModules[name];
  if (entry === undefined) throw new Error(`unknown adapter ${name}; one of ${Object.keys(adapterModules).join(", ")}`);
  const [path, factory, settings] = entry;
  const module = (await import(path)) as Record<string, (settings?: object) => SocketAdapter | Promise<SocketAdapter>>;
  return await module[factory]!(settings);
}
